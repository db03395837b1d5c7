"""Every probe on its interval: spread start times, a global limit, no overlap.

Each probe's place in its interval comes from its id, so a thousand probes at 30 s never fire
together. Probes that share an interval and a time slot (``SLOT`` wide) share one timer, so
the cost of waking is paid per slot, not per probe. Timers are the event loop's own
(``loop.call_at``, on its monotonic clock): a general-purpose job scheduler spent a fifth of
the agent's CPU at 100 probes/s on date arithmetic and wake-ups that found nothing due
(bench/ANALYSIS.md), and a clock step cannot bring a backlog of runs.

The first round after a start or reload runs soon (spread over ``FIRST_ROUND_WINDOW``),
leaving the interval grid alone; a run due less than half an interval from the probe's
previous one is the same run and is left out. A run whose previous one is still going is
skipped ("overlap"); grid times that passed while the loop was held (a stall longer than an
interval) become one run, and those left out are counted ("missed").
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from agent.logs import Repeats
from agent.plan import ProbePlan
from agent.vocabulary import LAG_BUCKETS

log = logging.getLogger("oversight.scheduler")

FIRST_ROUND_WINDOW = 2.0  # seconds over which the first round after start is spread
SLOT = 0.005  # probes whose start falls in the same 5 ms of their interval share a timer
FIRST_ROUND_TICK = 0.01  # first runs due within the same 10 ms share a timer


def spread_offset(probe_id: str, interval: float) -> float:
    """Where in its interval a probe fires: stable for an id, uniform across ids."""
    digest = hashlib.sha256(probe_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * interval


@dataclass
class SchedulerStats:
    """What the scheduler did, for the agent's own health metrics."""

    lag_counts: list[int] = field(default_factory=lambda: [0] * (len(LAG_BUCKETS) + 1))
    lag_sum: float = 0.0
    skipped: dict[str, int] = field(default_factory=lambda: {"overlap": 0, "missed": 0})
    in_flight: int = 0
    runs: int = 0

    def observe_lag(self, seconds: float) -> None:
        self.lag_counts[bisect.bisect_left(LAG_BUCKETS, seconds)] += 1
        self.lag_sum += seconds


@dataclass(frozen=True, slots=True)
class SyncReport:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    kept: int


@dataclass(slots=True, eq=False)
class _Slot:
    """The probes of one interval whose place in it falls in one ``SLOT``, and their timer."""

    key: tuple[float, int]  # (interval, slot number)
    interval: float
    phase: float  # seconds after the scheduler's origin of the grid's first time
    members: dict[str, None] = field(default_factory=dict)  # ordered: runs start in that order
    due: float = 0.0  # loop time of the next run
    timer: asyncio.TimerHandle | None = None


class Scheduler:
    """Runs ``run(probe_id)`` for each probe on its interval under a concurrency limit."""

    def __init__(self, run: Callable[[str], Awaitable[None]], concurrency: int) -> None:
        self._run = run
        self._limit = asyncio.Semaphore(concurrency)
        self._repeats = Repeats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._origin = 0.0  # loop time every grid counts from; kept across reloads
        self._wall_origin = 0.0  # the same moment in unix time
        self._slots: dict[tuple[float, int], _Slot] = {}  # (interval, slot number) -> slot
        self._slot_of: dict[str, _Slot] = {}  # probe id -> its grid slot
        self._first: dict[int, list[str]] = {}  # first-round tick -> probe ids
        self._first_timers: dict[int, asyncio.TimerHandle] = {}
        self._last_due: dict[str, float] = {}  # probe id -> when its last run was due
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self.stats = SchedulerStats()

    @property
    def _started(self) -> asyncio.AbstractEventLoop:
        """The loop ``start()`` saw: timers and runs are set on it."""
        assert self._loop is not None, "start() first"
        return self._loop

    @property
    def running(self) -> bool:
        return self._loop is not None and not self._stopping

    def start(self, probes: Mapping[str, ProbePlan]) -> None:
        self._loop = asyncio.get_running_loop()
        self._origin, self._wall_origin = self._loop.time(), time.time()
        for probe in probes.values():
            self._add(probe)

    def sync(self, old: Mapping[str, ProbePlan], new: Mapping[str, ProbePlan]) -> SyncReport:
        """Apply a new plan: unchanged probes keep their slot and their place in it."""
        removed = tuple(k for k in old if k not in new)
        added = tuple(k for k in new if k not in old)
        changed = tuple(k for k in new if k in old and old[k].digest != new[k].digest)
        if self._loop is None:  # not started: start() takes the plan as it is then
            return SyncReport(added, removed, changed, len(new) - len(added) - len(changed))
        for key in removed + changed:
            self._remove(key)
        for key in added + changed:
            self._add(new[key])
        return SyncReport(added, removed, changed, len(new) - len(added) - len(changed))

    async def shutdown(self, grace: float = 5.0) -> None:
        """Stop starting runs and let those in flight finish, each within its own deadline
        and all within ``grace`` seconds; what is still running then is cancelled."""
        self._stopping = True
        for slot in self._slots.values():
            if slot.timer is not None:
                slot.timer.cancel()
        for timer in self._first_timers.values():
            timer.cancel()
        self._first_timers.clear()
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)

    def next_run(self, probe_id: str) -> float | None:
        """When (unix time) the probe's grid runs it next; None when it is not scheduled."""
        slot = self._slot_of.get(probe_id)
        if slot is None:
            return None
        return self._wall_origin + slot.due - self._origin

    def _add(self, probe: ProbePlan) -> None:
        loop = self._started
        offset = spread_offset(probe.id, probe.interval)
        key = (probe.interval, int(offset / SLOT))
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(key, probe.interval, key[1] * SLOT)
            slot.due = self._next_due(slot, loop.time())
            slot.timer = loop.call_at(slot.due, self._fire, slot)
        slot.members[probe.id] = None
        self._slot_of[probe.id] = slot
        delay = offset / probe.interval * min(probe.interval, FIRST_ROUND_WINDOW)
        self._first_round(probe.id, delay)

    def _next_due(self, slot: _Slot, now: float) -> float:
        """The slot's first grid time after ``now``."""
        turns = math.floor((now - self._origin - slot.phase) / slot.interval) + 1
        return self._origin + slot.phase + max(turns, 0) * slot.interval

    def _first_round(self, probe_id: str, delay: float) -> None:
        """Run the probe once soon; first runs due within the same 10 ms share one timer."""
        loop = self._started
        tick = math.ceil((loop.time() + delay) / FIRST_ROUND_TICK)
        pending = self._first.get(tick)
        if pending is None:
            pending = self._first[tick] = []
            when = tick * FIRST_ROUND_TICK
            self._first_timers[tick] = loop.call_at(when, self._fire_first, tick, when)
        pending.append(probe_id)

    def _remove(self, probe_id: str) -> None:
        self._last_due.pop(probe_id, None)
        slot = self._slot_of.pop(probe_id, None)
        if slot is None:
            return
        slot.members.pop(probe_id, None)
        if not slot.members:
            del self._slots[slot.key]
            if slot.timer is not None:
                slot.timer.cancel()

    def _fire(self, slot: _Slot) -> None:
        """The slot's time: start its probes, and set the timer for the next grid time. A
        loop held past whole intervals gets one run for them, the latest grid time."""
        loop = self._started
        now = loop.time()
        # a timer may fire a hair early (uvloop's clock is in milliseconds): that is on time
        passed = max(0, math.floor((now - slot.due) / slot.interval))
        due = slot.due + passed * slot.interval
        if passed > 0:
            for probe_id in slot.members:
                self._skipped(probe_id, "missed", passed)
        slot.due = due + slot.interval
        slot.timer = loop.call_at(slot.due, self._fire, slot)
        for probe_id in slot.members:
            self._start(probe_id, due, slot.interval)

    def _fire_first(self, tick: int, due: float) -> None:
        self._first_timers.pop(tick, None)
        for probe_id in self._first.pop(tick, ()):
            slot = self._slot_of.get(probe_id)  # None: removed by a reload in the meantime
            if slot is not None:
                self._start(probe_id, due, slot.interval)

    def _start(self, probe_id: str, due: float, interval: float) -> None:
        if self._stopping:
            return
        last = self._last_due.get(probe_id)
        if last is not None and abs(due - last) < interval / 2:
            return  # the first round and the grid met: one run serves both
        self._last_due[probe_id] = due
        if probe_id in self._tasks:
            self._skipped(probe_id, "overlap")
            return
        loop = self._started
        self._tasks[probe_id] = loop.create_task(self._job(probe_id, due))

    async def _job(self, probe_id: str, due: float) -> None:
        loop = self._started
        try:
            async with self._limit:
                self.stats.observe_lag(max(0.0, loop.time() - due))
                self.stats.in_flight += 1
                try:
                    await self._run(probe_id)
                finally:
                    self.stats.in_flight -= 1
                    self.stats.runs += 1
        except Exception:  # run_probe never raises; if it did, the schedule must go on
            log.exception("run of %s raised", probe_id)
        finally:
            self._tasks.pop(probe_id, None)

    def _skipped(self, probe_id: str, reason: str, count: int = 1) -> None:
        """Counted every time; said at warning the first time for a probe, then at debug: a
        probe slower than its interval would skip, and say so, every interval."""
        self.stats.skipped[reason] += count
        level = self._repeats.level((probe_id, reason))
        later = "" if level == logging.DEBUG else "; later skips are counted in the metrics"
        log.log(level, "skipped a run of %s (%s)%s", probe_id, reason, later)
