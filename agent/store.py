"""The one source of truth: the latest result and running totals of every probe."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from agent.flow_history import FlowHistory
from agent.history import DEFAULT_SIZE, RunHistory
from agent.results import Reason, Result
from agent.vocabulary import DURATION_BUCKETS


@dataclass(slots=True)
class ProbeTotals:
    """Running totals for one probe; fixed size, so the store stays bounded. The duration
    histogram's buckets exist only for the probes that export it."""

    successes: int = 0
    failures: dict[Reason, int] = field(default_factory=dict)
    bucket_counts: list[int] | None = None
    duration_sum: float = 0.0
    exemplar: tuple[str, float, float] | None = None  # trace id, value, unix time
    step_failures: dict[str, int] = field(default_factory=dict)  # a flow's steps that ran

    def add(self, result: Result, histogram: bool) -> None:
        if result.success:
            self.successes += 1
        else:
            reason = result.reason or Reason.INTERNAL_ERROR
            self.failures[reason] = self.failures.get(reason, 0) + 1
        for step in result.steps:
            self.step_failures[step.name] = self.step_failures.get(step.name, 0) + (
                not step.success
            )
        if not histogram:
            return
        if self.bucket_counts is None:
            self.bucket_counts = [0] * (len(DURATION_BUCKETS) + 1)
        self.bucket_counts[bisect.bisect_left(DURATION_BUCKETS, result.duration)] += 1
        self.duration_sum += result.duration
        if result.trace_id:
            self.exemplar = (result.trace_id, result.duration, result.started)

    @property
    def runs(self) -> int:
        return self.successes + sum(self.failures.values())


class ResultStore:
    """Latest result per probe plus totals, its last runs (``history`` of them, none when 0)
    and the history of each flow (for reports). Only the App writes; views read.

    Everything runs on one event loop and the views render synchronously, so readers see a
    consistent store without locks or copies.
    """

    def __init__(self, history: int = DEFAULT_SIZE) -> None:
        self._latest: dict[str, Result] = {}
        self._totals: dict[str, ProbeTotals] = {}
        self._runs: dict[str, RunHistory] = {}
        self._flows: dict[str, FlowHistory] = {}
        self.history_size = history

    def record(self, result: Result, histogram: bool = False) -> Result | None:
        """Store ``result`` (and its duration in the probe's histogram when it has one);
        return the result it replaces."""
        previous = self._latest.get(result.probe_id)
        self._latest[result.probe_id] = result
        totals = self._totals.get(result.probe_id)
        if totals is None:
            totals = self._totals[result.probe_id] = ProbeTotals()
        totals.add(result, histogram)
        if self.history_size:
            runs = self._runs.get(result.probe_id)
            if runs is None:
                runs = self._runs[result.probe_id] = RunHistory(self.history_size)
            runs.add(result)
        if result.steps:
            history = self._flows.get(result.probe_id)
            if history is None:
                history = self._flows[result.probe_id] = FlowHistory()
            history.add(result)
        return previous

    def forget(self, probe_id: str) -> None:
        """Drop one probe's history (its config changed: old numbers no longer describe it)."""
        self._latest.pop(probe_id, None)
        self._totals.pop(probe_id, None)
        self._runs.pop(probe_id, None)
        self._flows.pop(probe_id, None)

    def keep_runs(self, size: int) -> None:
        """Keep the last ``size`` runs of each probe from now on (a reload changed it)."""
        if size == self.history_size:
            return
        self.history_size = size
        self._runs = {k: h.resized(size) for k, h in self._runs.items()} if size else {}

    @property
    def latest(self) -> Mapping[str, Result]:
        return MappingProxyType(self._latest)

    @property
    def totals(self) -> Mapping[str, ProbeTotals]:
        return MappingProxyType(self._totals)

    @property
    def runs(self) -> Mapping[str, RunHistory]:
        """Each probe's last runs, oldest first."""
        return MappingProxyType(self._runs)

    @property
    def flows(self) -> Mapping[str, FlowHistory]:
        return MappingProxyType(self._flows)
