"""Every probe on its interval, on APScheduler: spread start times, a global limit, no overlap.

Probes that share a time slot (``SLOT`` wide) and an interval share one APScheduler job: the
per-job overhead is paid per slot, not per probe (bench/ANALYSIS.md has the measurement). Each
probe's place in its interval comes from its id, so a thousand probes at 30 s never fire
together.
The first round after a start or reload runs soon (spread over ``FIRST_ROUND_WINDOW``) from
one-shot jobs, leaving the interval grid alone; a run due less than half an interval from the
probe's previous one is the same run and is left out. A run whose previous one is still going is
skipped ("overlap") and a run APScheduler found too late is dropped ("missed"); both are
counted. Coalescing turns a clock jump's backlog into one run instead of a storm.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobEvent, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from agent.logs import Repeats
from agent.plan import ProbePlan
from agent.vocabulary import LAG_BUCKETS

log = logging.getLogger("oversight.scheduler")

FIRST_ROUND_WINDOW = 2.0  # seconds over which the first round after start is spread
SLOT = 0.005  # probes whose start falls in the same 5 ms of their interval share a job
FIRST_ROUND_TICK = 0.01  # first runs due within the same 10 ms share a one-shot job


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


class Scheduler:
    """Runs ``run(probe_id)`` for each probe on its interval under a concurrency limit."""

    def __init__(self, run: Callable[[str], Awaitable[None]], concurrency: int) -> None:
        self._run = run
        self._limit = asyncio.Semaphore(concurrency)
        self._repeats = Repeats()
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        self._scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self._anchor = datetime.now(UTC).replace(microsecond=0)  # grids keep it across reloads
        self._members: dict[str, dict[str, float]] = {}  # job id -> probe id -> interval
        self._job_of: dict[str, str] = {}  # probe id -> its grid job
        self._first: dict[str, list[str]] = {}  # pending first-round job -> probe ids
        self._last_due: dict[str, float] = {}  # probe id -> when its last run was due
        self._scheduled: dict[str, float] = {}  # job id -> when its current run was due
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self.stats = SchedulerStats()

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self, probes: Mapping[str, ProbePlan]) -> None:
        for probe in probes.values():
            self._add(probe)
        self._scheduler.start()

    def sync(self, old: Mapping[str, ProbePlan], new: Mapping[str, ProbePlan]) -> SyncReport:
        """Apply a new plan: unchanged probes keep their job and their place in it."""
        removed = tuple(k for k in old if k not in new)
        added = tuple(k for k in new if k not in old)
        changed = tuple(k for k in new if k in old and old[k].digest != new[k].digest)
        for key in removed + changed:
            self._remove(key)
        for key in added + changed:
            self._add(new[key])
        return SyncReport(added, removed, changed, len(new) - len(added) - len(changed))

    async def shutdown(self, grace: float = 5.0) -> None:
        """Stop starting runs and let those in flight finish, each within its own deadline
        and all within ``grace`` seconds; what is still running then is cancelled. A job the
        timer had already handed over runs its course (starting nothing), so none is cut
        off mid-start."""
        self._stopping = True
        if self._scheduler.running:
            # Jobs handed to the executor but not yet started would be cancelled by its
            # shutdown (and logged as errors): pause, let them run (they start nothing now)
            self._scheduler.pause()
            await asyncio.sleep(0)
            self._scheduler.shutdown(wait=False)
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)

    def next_run(self, probe_id: str) -> float | None:
        """When (unix time) the probe's grid job runs next; None when it is not scheduled."""
        job_id = self._job_of.get(probe_id)
        job = self._scheduler.get_job(job_id) if job_id else None
        return job.next_run_time.timestamp() if job and job.next_run_time else None

    def _add(self, probe: ProbePlan) -> None:
        offset = spread_offset(probe.id, probe.interval)
        slot = int(offset / SLOT) * SLOT
        job_id = f"every {probe.interval:g}s at +{slot:.3f}s"
        members = self._members.get(job_id)
        if members is None:
            members = self._members[job_id] = {}
            trigger = IntervalTrigger(
                seconds=probe.interval, start_date=self._anchor + timedelta(seconds=slot)
            )
            self._scheduler.add_job(
                self._fire,
                trigger,
                args=(job_id,),
                id=job_id,
                name=job_id,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=max(1, int(probe.interval)),
            )
        members[probe.id] = probe.interval
        self._job_of[probe.id] = job_id
        self._first_round(
            probe.id, offset / probe.interval * min(probe.interval, FIRST_ROUND_WINDOW)
        )

    def _first_round(self, probe_id: str, delay: float) -> None:
        """Run the probe once soon; first runs due within the same 10 ms share one job."""
        tick = round((time.time() + delay) / FIRST_ROUND_TICK)
        first_id = f"first round {tick}"
        pending = self._first.get(first_id)
        if pending is None:
            pending = self._first[first_id] = []
            when = datetime.fromtimestamp(tick * FIRST_ROUND_TICK, UTC)
            self._scheduler.add_job(
                self._fire_first,
                DateTrigger(run_date=when),
                args=(first_id,),
                id=first_id,
                name=first_id,
                misfire_grace_time=60,
            )
        pending.append(probe_id)

    def _remove(self, probe_id: str) -> None:
        job_id = self._job_of.pop(probe_id, None)
        self._last_due.pop(probe_id, None)
        members = self._members.get(job_id) if job_id else None
        if members is None or job_id is None:
            return
        members.pop(probe_id, None)
        if not members:
            del self._members[job_id]
            self._scheduler.remove_job(job_id)

    async def _fire(self, job_id: str) -> None:
        due = self._scheduled.pop(job_id, time.time())
        for probe_id, interval in self._members.get(job_id, {}).items():
            self._start(probe_id, due, interval)

    async def _fire_first(self, first_id: str) -> None:
        due = self._scheduled.pop(first_id, time.time())
        for probe_id in self._first.pop(first_id, ()):
            job_id = self._job_of.get(probe_id)  # None: removed by a reload in the meantime
            if job_id is not None:
                self._start(probe_id, due, self._members[job_id][probe_id])

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
        self._tasks[probe_id] = asyncio.get_running_loop().create_task(self._job(probe_id, due))

    async def _job(self, probe_id: str, due: float) -> None:
        try:
            async with self._limit:
                self.stats.observe_lag(max(0.0, time.time() - due))
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

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        if event.scheduled_run_times:
            self._scheduled[event.job_id] = event.scheduled_run_times[-1].timestamp()

    def _on_missed(self, event: JobEvent) -> None:
        probes = list(self._members.get(event.job_id, {})) or self._first.pop(event.job_id, [])
        for probe_id in probes:
            self._skipped(probe_id, "missed")

    def _skipped(self, probe_id: str, reason: str) -> None:
        """Counted every time; said at warning the first time for a probe, then at debug: a
        probe slower than its interval would skip, and say so, every interval."""
        self.stats.skipped[reason] += 1
        level = self._repeats.level((probe_id, reason))
        later = "" if level == logging.DEBUG else "; later skips are counted in the metrics"
        log.log(level, "skipped a run of %s (%s)%s", probe_id, reason, later)
