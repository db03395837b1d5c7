"""A probe's last runs: a bounded ring of compact entries, its uptime, its cost in memory."""

from __future__ import annotations

import tracemalloc

import pytest

from agent.history import RunHistory
from agent.results import Breach, Reason, Result, Severity
from agent.store import ResultStore

T0 = 1_700_000_000


def result(i: int, ok: bool = True, reason: Reason | None = None, breach: bool = False) -> Result:
    breaches = (Breach("latency", Severity.WARNING, 0.4, 0.25),) if breach else ()
    return Result(
        "p/i/health",
        T0 + i * 5 + 0.7,
        0.001 * (i + 1),
        ok,
        None if ok else reason,
        "",
        (),
        breaches=breaches,
    )


def test_keeps_the_last_runs_oldest_first_with_time_duration_and_outcome() -> None:
    ring = RunHistory(3)
    assert (len(ring), list(ring), ring.uptime) == (0, [], None)
    ring.add(result(0))
    ring.add(result(1, False, Reason.TIMEOUT))
    assert [(r.started, r.success, r.reason) for r in ring] == [
        (T0, True, None),
        (T0 + 5, False, Reason.TIMEOUT),
    ]
    ring.add(result(2, breach=True))
    ring.add(result(3, False))  # failed without a reason: counted as an internal error
    runs = list(ring)
    assert [(r.started, r.success, r.reason, r.breached) for r in runs] == [
        (T0 + 5, False, Reason.TIMEOUT, False),
        (T0 + 10, True, None, True),
        (T0 + 15, False, Reason.INTERNAL_ERROR, False),
    ]
    assert runs[1].duration == pytest.approx(0.003, rel=1e-6)  # a 32-bit float of seconds
    assert (len(ring), ring.passed, ring.uptime) == (3, 1, 1 / 3)


def test_uptime_follows_the_runs_that_leave_the_ring() -> None:
    ring = RunHistory(4)
    for i in range(4):
        ring.add(result(i, ok=False, reason=Reason.CONNECT_REFUSED))
    assert ring.uptime == 0.0
    for i in range(4, 7):
        ring.add(result(i))
    assert (ring.passed, ring.uptime) == (3, 0.75)


@pytest.mark.parametrize(
    ("size", "kept"), [(2, [8, 9]), (5, [5, 6, 7, 8, 9]), (20, list(range(4, 10)))]
)
def test_a_new_size_keeps_the_newest_runs(size: int, kept: list[int]) -> None:
    ring = RunHistory(6)
    for i in range(10):
        ring.add(result(i, ok=i % 2 == 0, reason=Reason.TIMEOUT))
    new = ring.resized(size)
    assert [(r.started - T0) // 5 for r in new] == kept
    assert new.passed == sum(1 for i in kept if i % 2 == 0)
    new.add(result(10))
    assert [(r.started - T0) // 5 for r in new][-1] == 10
    assert len(new) == min(size, len(kept) + 1)


def test_the_store_keeps_runs_per_probe_forgets_them_and_follows_a_new_size() -> None:
    store = ResultStore(history=3)
    for i in range(5):
        store.record(result(i))
    assert [(r.started - T0) // 5 for r in store.runs["p/i/health"]] == [2, 3, 4]
    store.keep_runs(2)
    assert len(store.runs["p/i/health"]) == 2
    store.keep_runs(0)  # none kept
    store.record(result(5))
    assert dict(store.runs) == {}
    store.keep_runs(4)
    store.record(result(6))
    store.forget("p/i/health")
    assert "p/i/health" not in store.runs


def test_a_probe_with_sixty_runs_costs_about_700_bytes() -> None:
    """The history's share of the memory budget: 1,000 probes cost 0.7 MB, 10,000 7 MB."""
    probes = [f"pattern/integration-{i}/probe" for i in range(1000)]  # the plan holds the ids
    runs = [result(i, ok=i % 7 != 0, reason=Reason.TIMEOUT) for i in range(60)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        store = ResultStore(history=60)
        for probe in probes:
            ring = store._runs[probe] = RunHistory(60)
            for run in runs:
                ring.add(run)
        per_probe = (tracemalloc.get_traced_memory()[0] - before) / len(probes)
    finally:
        tracemalloc.stop()
    assert len(store.runs) == 1000
    # 60 entries of 9 bytes (540), the bytearray (56), the ring (72) and its slot in the dict
    assert 540 < per_probe < 720, per_probe
