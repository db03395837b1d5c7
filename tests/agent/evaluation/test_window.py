"""The rolling window: counts in minute buckets, old buckets fall out, memory stays bounded."""

from __future__ import annotations

from agent.evaluation.window import RollingWindow


def test_counts_and_expiry() -> None:
    window = RollingWindow(span=600, latency_limit=0.5)
    for second in range(0, 600, 5):  # 120 runs over 10 minutes, from a minute's start
        window.add(1200 + second, success=second % 60 != 0, duration=0.1 if second < 300 else 0.9)
    totals = window.totals(1800)
    assert (totals.runs, totals.successes) == (120, 110)
    assert totals.fast == 55  # successful and within 0.5s: the first five minutes
    assert round(totals.availability or 0, 4) == round(110 / 120, 4)
    later = window.totals(1800 + 300)  # five minutes on: the first half has left
    assert later.runs == 60 and later.fast == 0
    assert window.totals(1800 + 1200).runs == 0


def test_memory_is_bounded_whatever_the_rate() -> None:
    window = RollingWindow(span=3600, latency_limit=1.0)
    for tick in range(100_000):  # ~28 runs a second for an hour
        window.add(tick * 0.036, success=True, duration=0.01)
    assert len(window) <= 61
    assert window.totals(3600).runs > 90_000
