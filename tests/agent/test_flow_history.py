"""A flow's history: bounded hourly slots, counts and step latency percentiles over a period."""

from __future__ import annotations

import pytest

from agent.flow_history import KEEP, SLOT, FlowHistory, bucket, bucket_value, from_results
from agent.results import Reason, Result, StepResult

HOUR0 = 1_700_000_000 - 1_700_000_000 % SLOT


def run(at: float, durations: dict[str, float], failing: str | None = None) -> Result:
    steps = []
    for name, seconds in durations.items():
        ok = name != failing
        steps.append(StepResult(name, "p/i", ok, 0.0, seconds, None if ok else Reason.TIMEOUT))
        if not ok:
            break
    return Result("p/w/flow", at, sum(durations.values()), failing is None, steps=tuple(steps))


@pytest.mark.parametrize("seconds", [0.0004, 0.0015, 0.012, 0.25, 1.0, 7.3, 120.0])
def test_a_bucket_stands_for_its_durations_within_a_few_percent(seconds: float) -> None:
    value = bucket_value(bucket(seconds))
    if seconds <= 0.001:
        assert value == 0.001
    else:
        assert abs(value - seconds) / seconds < 0.05


def test_counts_success_ratio_the_step_that_fails_most_and_percentiles() -> None:
    history = FlowHistory()
    for minute in range(100):
        failing = "pay" if minute % 10 == 0 else "verify" if minute % 25 == 1 else None
        history.add(
            run(HOUR0 + minute * 30, {"verify": 0.010 + minute / 10_000, "pay": 0.2}, failing)
        )
    summary = history.summary(HOUR0, HOUR0 + 3000)
    assert (summary.runs, summary.successes) == (100, 86)
    assert summary.success_ratio == 0.86
    verify, pay = summary.steps
    assert (verify.name, verify.runs, verify.failures) == ("verify", 100, 4)
    assert (pay.name, pay.runs, pay.failures) == ("pay", 96, 10)
    assert summary.most_failing is pay
    p50, p90, p99 = (seconds for _, seconds in verify.percentiles)
    assert p50 == pytest.approx(0.015, rel=0.05)
    assert p90 == pytest.approx(0.019, rel=0.05)
    assert p99 == pytest.approx(0.0199, rel=0.05)


def test_a_period_counts_the_slots_it_overlaps() -> None:
    history = FlowHistory()
    for hour in range(5):
        for _ in range(hour + 1):
            history.add(run(HOUR0 + hour * SLOT + 60, {"a": 0.1}))
    summary = history.summary(HOUR0 + 2 * SLOT + 1800, HOUR0 + 3 * SLOT + 10)
    assert summary.runs == 3 + 4
    assert (summary.since, summary.until) == (HOUR0 + 2 * SLOT, HOUR0 + 4 * SLOT)
    assert history.summary(HOUR0 + 10 * SLOT, HOUR0 + 11 * SLOT).runs == 0


def test_memory_stays_bounded_a_week_of_slots() -> None:
    history = FlowHistory()
    for hour in range(KEEP + 50):
        history.add(run(HOUR0 + hour * SLOT, {"a": 0.1}))
    kept = list(history.slots)
    assert len(kept) == KEEP
    assert kept[0] == HOUR0 + 50 * SLOT


def test_histories_from_one_pass_of_results() -> None:
    histories = from_results([run(HOUR0, {"a": 0.1}), Result("p/i/plain", HOUR0, 0.1, True)])
    assert list(histories) == ["p/w/flow"]
