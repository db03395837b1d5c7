"""The rolling window: counts in minute buckets, old buckets fall out, memory stays bounded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

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


def test_the_sums_follow_a_window_left_alone_for_hours() -> None:
    """Runs keep arriving while nobody asks for the totals; the old buckets still leave."""
    window = RollingWindow(span=600, latency_limit=0.5)
    for second in range(0, 7200, 10):  # two hours, one run every 10 s, asked for only at the end
        window.add(second, success=True, duration=0.1)
    totals = window.totals(7200)
    assert (totals.runs, totals.successes, totals.fast) == (60, 60, 60)
    window.add(7200, success=False, duration=0.1)
    assert window.totals(7260).runs == 55  # the first minute left, one failure came
    assert window.totals(7260).successes == 54


@given(
    st.lists(
        st.tuples(st.floats(0, 90), st.floats(0, 30), st.booleans(), st.floats(0, 1)),
        min_size=1,
        max_size=300,
    ),
    st.sets(st.integers(0, 299), max_size=10),
)
def test_the_kept_sums_equal_a_count_from_scratch(
    runs: list[tuple[float, float, bool, float]], asked: set[int]
) -> None:
    """Runs arrive as they do in the agent (time moves on; a slow run's result may come up to
    half a minute late) and the totals are asked now and then: they always equal a plain count
    of the runs in the buckets that overlap the last ``span`` seconds."""
    window = RollingWindow(span=600, latency_limit=0.5)
    seen: list[tuple[float, bool, float]] = []
    clock = 0.0
    for index, (gap, late, success, duration) in enumerate(runs):
        clock += gap
        at = max(0.0, clock - late)
        window.add(at, success, duration)
        seen.append((at, success, duration))
        if index in asked:
            oldest = int((clock - 600) // 60)
            inside = [(s, d) for a, s, d in seen if int(a // 60) >= oldest]
            totals = window.totals(clock)
            assert totals.runs == len(inside)
            assert totals.successes == sum(s for s, _ in inside)
            assert totals.fast == sum(s and d <= 0.5 for s, d in inside)
