"""The scheduler: deterministic spread, a quick first round, no overlap, a global limit."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter

import pytest

from agent.plan import ProbePlan
from agent.scheduler import FIRST_ROUND_WINDOW, SLOT, Scheduler, spread_offset


def make_probe(probe_id: str, interval: float, digest: str = "d0") -> ProbePlan:
    pattern, integration, name = probe_id.split("/")
    return ProbePlan(
        id=probe_id,
        pattern=pattern,
        integration=integration,
        name=name,
        kind="tcp",
        scope="internal",
        interval=interval,
        timeout=min(1.0, interval),
        settings=None,
        conditions=(),
        thresholds=(),
        target="tcp://x",
        digest=digest,
    )


def test_spread_is_deterministic_and_uniform() -> None:
    ids = [f"p/i{n}/health" for n in range(1000)]
    offsets = [spread_offset(i, 30.0) for i in ids]
    assert offsets == [spread_offset(i, 30.0) for i in ids]
    assert all(0 <= o < 30.0 for o in offsets)
    per_3s = Counter(int(o // 3) for o in offsets)
    assert sorted(per_3s) == list(range(10))
    assert min(per_3s.values()) > 60 and max(per_3s.values()) < 140  # ~100 each


async def test_first_round_runs_every_probe_soon_even_with_long_intervals() -> None:
    ran: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def run(probe_id: str) -> None:
        ran.setdefault(probe_id, loop.time() - start)

    scheduler = Scheduler(run, concurrency=10)
    probes = {p.id: p for p in (make_probe(f"p/i{n}/h", 3600.0) for n in range(20))}
    scheduler.start(probes)
    try:
        for _ in range(50):
            if len(ran) == 20:
                break
            await asyncio.sleep(0.1)
    finally:
        await scheduler.shutdown()
    assert set(ran) == set(probes)
    assert max(ran.values()) < FIRST_ROUND_WINDOW + 1.0
    assert len({round(t, 2) for t in ran.values()}) > 10  # spread, not all at once


async def test_a_slow_probe_never_overlaps_itself_and_skips_are_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    active: Counter[str] = Counter()
    most = 0

    async def run(probe_id: str) -> None:
        nonlocal most
        active[probe_id] += 1
        most = max(most, active[probe_id])
        await asyncio.sleep(0.7)  # longer than the interval
        active[probe_id] -= 1

    scheduler = Scheduler(run, concurrency=10)
    scheduler.start({"p/i/slow": make_probe("p/i/slow", 0.2)})
    with caplog.at_level(logging.DEBUG, logger="oversight.scheduler"):
        await asyncio.sleep(2.0)
    await scheduler.shutdown()
    assert most == 1
    assert scheduler.stats.skipped["overlap"] >= 3
    assert 2 <= scheduler.stats.runs <= 3
    # Said once at warning, then at debug: a probe slower than its interval skips every time.
    skips = [(r.levelname, r.getMessage()) for r in caplog.records if "skipped" in r.getMessage()]
    assert skips[0] == (
        "WARNING",
        "skipped a run of p/i/slow (overlap); later skips are counted in the metrics",
    )
    assert {level for level, _ in skips[1:]} == {"DEBUG"} and len(skips) >= 3


async def test_concurrency_limit_holds_and_lag_is_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.scheduler.FIRST_ROUND_WINDOW", 0.01)  # all six due at once
    in_flight = 0
    most = 0

    async def run(probe_id: str) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.3)
        in_flight -= 1

    scheduler = Scheduler(run, concurrency=2)
    scheduler.start({p.id: p for p in (make_probe(f"p/i{n}/h", 60.0) for n in range(6))})
    await asyncio.sleep(1.5)
    await scheduler.shutdown()
    assert most == 2
    assert scheduler.stats.runs == 6
    assert sum(scheduler.stats.lag_counts) == 6
    # Six 0.3 s runs through two slots: four waited 0.3 or 0.6 s for a slot, and that is lag.
    assert scheduler.stats.lag_sum > 1.5


@pytest.mark.parametrize("change", ["same", "changed", "removed"])
async def test_sync_keeps_unchanged_jobs(change: str) -> None:
    async def run(probe_id: str) -> None:
        return None

    scheduler = Scheduler(run, concurrency=1)
    old = {"p/a/h": make_probe("p/a/h", 3600.0), "p/b/h": make_probe("p/b/h", 3600.0)}
    scheduler.start(old)
    next_run = scheduler.next_run("p/a/h")
    new = dict(old)
    if change == "changed":
        new["p/a/h"] = make_probe("p/a/h", 3600.0, digest="d1")
    elif change == "removed":
        del new["p/a/h"]
    new["p/c/h"] = make_probe("p/c/h", 3600.0)
    report = scheduler.sync(old, new)
    after = scheduler.next_run("p/a/h")
    await scheduler.shutdown()
    assert report.added == ("p/c/h",)
    if change == "same":
        assert after is not None and after == next_run
        assert report.kept == 2 and report.changed == () and report.removed == ()
    elif change == "changed":
        assert report.changed == ("p/a/h",) and after is not None
    else:
        assert report.removed == ("p/a/h",) and after is None


async def test_runs_keep_their_grid_and_never_come_up_twice() -> None:
    # 100 ms is where float error once brought the same run back (0.1 has no exact binary).
    times: dict[str, list[float]] = {}
    loop = asyncio.get_running_loop()

    async def run(probe_id: str) -> None:
        times.setdefault(probe_id, []).append(loop.time())

    scheduler = Scheduler(run, concurrency=10)
    scheduler.start({p.id: p for p in (make_probe(f"p/i{n}/h", 0.1) for n in range(3))})
    await asyncio.sleep(1.5)
    await scheduler.shutdown()
    assert scheduler.stats.skipped == {"overlap": 0, "missed": 0}
    for probe_id, seen in times.items():
        gaps = [b - a for a, b in itertools.pairwise(seen)]
        assert len(seen) >= 10, probe_id
        assert min(gaps) >= 0.05, (probe_id, gaps)  # at least half an interval apart
        assert sorted(gaps)[len(gaps) // 2] == pytest.approx(0.1, abs=0.01)


async def test_probes_sharing_a_time_slot_share_one_timer() -> None:
    async def run(probe_id: str) -> None:
        return None

    scheduler = Scheduler(run, concurrency=10)
    probes = {p.id: p for p in (make_probe(f"p/i{n}/h", 5.0) for n in range(5000))}
    scheduler.start(probes)
    slots = list(scheduler._slots.values())
    await scheduler.shutdown()
    assert len(slots) <= 5.0 / SLOT  # at most one timer per 5 ms slot of the interval
    assert len(slots) > 900  # and the slots are used evenly
    assert sum(len(slot.members) for slot in slots) == 5000
    assert all(slot.timer is not None and slot.timer.cancelled() for slot in slots)


async def test_a_held_loop_gets_one_run_and_the_grid_times_it_passed_are_counted() -> None:
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def run(probe_id: str) -> None:
        times.append(loop.time())

    scheduler = Scheduler(run, concurrency=1)
    scheduler.start({"p/i/h": make_probe("p/i/h", 0.1)})
    await asyncio.sleep(0.55)
    before = len(times)
    time.sleep(0.45)  # noqa: ASYNC251 - the point: the loop is held through four grid times
    await asyncio.sleep(0.25)
    await scheduler.shutdown()
    after = times[before:]
    assert 3 <= scheduler.stats.skipped["missed"] <= 5
    # one run for the held stretch, then the grid again: never a burst of the passed times
    assert min(b - a for a, b in itertools.pairwise(after)) >= 0.05


async def test_shutdown_lets_runs_in_flight_finish_and_cuts_off_those_past_the_grace() -> None:
    started: list[str] = []
    both = asyncio.Event()
    finished: list[str] = []
    cancelled: list[str] = []

    async def run(probe_id: str) -> None:
        started.append(probe_id)
        if len(started) == 2:
            both.set()
        try:
            await asyncio.sleep(0.5 if probe_id.endswith("quick") else 30)
            finished.append(probe_id)
        except asyncio.CancelledError:
            cancelled.append(probe_id)
            raise

    scheduler = Scheduler(run, concurrency=10)
    probes = (make_probe("p/a/quick", 60.0), make_probe("p/b/stuck", 60.0))
    scheduler.start({p.id: p for p in probes})
    await asyncio.wait_for(both.wait(), FIRST_ROUND_WINDOW + 1)
    await scheduler.shutdown(grace=1.0)
    assert (finished, cancelled) == (["p/a/quick"], ["p/b/stuck"])
    assert not scheduler.running
    assert scheduler.stats.runs == 2
