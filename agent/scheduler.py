"""One APScheduler job per probe: spread start times, a global limit, never two runs at once.

APScheduler silently skips a run whose previous one is still going and drops misfired runs;
both are counted here so the watcher can be watched. Coalescing turns a clock jump's backlog
into one run instead of a storm.
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

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from agent.plan import ProbePlan

log = logging.getLogger("oversight.scheduler")

LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
FIRST_ROUND_WINDOW = 2.0  # seconds over which the first round after start is spread


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
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        self._scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self._scheduled: dict[str, float] = {}
        self._anchor = datetime.now(UTC).replace(microsecond=0)
        self.stats = SchedulerStats()

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self, probes: Mapping[str, ProbePlan]) -> None:
        for probe in probes.values():
            self._add(probe, first_round=True)
        self._scheduler.start()

    def sync(self, old: Mapping[str, ProbePlan], new: Mapping[str, ProbePlan]) -> SyncReport:
        """Apply a new plan: unchanged probes keep their jobs and schedule."""
        removed = tuple(k for k in old if k not in new)
        added = tuple(k for k in new if k not in old)
        changed = tuple(k for k in new if k in old and old[k].digest != new[k].digest)
        for key in removed + changed:
            self._scheduler.remove_job(key)
            self._scheduled.pop(key, None)
        for key in added + changed:
            self._add(new[key], first_round=True)
        return SyncReport(added, removed, changed, len(new) - len(added) - len(changed))

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _add(self, probe: ProbePlan, *, first_round: bool) -> None:
        offset = spread_offset(probe.id, probe.interval)
        now = datetime.now(UTC)
        trigger = IntervalTrigger(
            seconds=probe.interval,
            start_date=self._anchor + timedelta(seconds=offset),
            timezone=UTC,
        )
        first = now + timedelta(
            seconds=offset / probe.interval * min(probe.interval, FIRST_ROUND_WINDOW)
        )
        self._scheduler.add_job(
            self._job,
            trigger,
            args=(probe.id,),
            id=probe.id,
            name=probe.id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(probe.interval)),
            next_run_time=first if first_round else None,
        )

    async def _job(self, probe_id: str) -> None:
        async with self._limit:
            scheduled = self._scheduled.pop(probe_id, None)
            if scheduled is not None:
                self.stats.observe_lag(max(0.0, time.time() - scheduled))
            self.stats.in_flight += 1
            try:
                await self._run(probe_id)
            finally:
                self.stats.in_flight -= 1
                self.stats.runs += 1

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        if event.scheduled_run_times:
            self._scheduled[event.job_id] = event.scheduled_run_times[-1].timestamp()

    def _on_skipped(self, event: JobEvent) -> None:
        reason = "overlap" if event.code == EVENT_JOB_MAX_INSTANCES else "missed"
        self.stats.skipped[reason] += 1
        log.warning("skipped a run of %s (%s)", event.job_id, reason)
