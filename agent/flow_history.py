"""A flow's runs over time, for workflow reports: counts and step latencies in hourly slots.

Reports ask for a period (the last day, the last week) long after the runs. Keeping every run
would grow without end, so each flow keeps one slot an hour for a week: runs, successes, and
per step its runs, failures and a latency histogram with logarithmic buckets (about 9 % wide,
so a percentile read from it is within about 5 % of the true one). Memory is bounded by
``KEEP`` slots x steps x buckets in use (a step's latencies rarely spread over more than a few
dozen buckets), whatever the probe rate. A period is rounded out to whole slots.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from agent.results import Result

SLOT = 3600.0  # seconds per slot
KEEP = 168  # slots kept: a week
RATIO = 2**0.125  # width of a latency bucket
FLOOR = 1e-3  # seconds: bucket 0 holds everything faster
PERCENTILES = (0.5, 0.9, 0.99)


def bucket(seconds: float) -> int:
    """The latency bucket of a duration (0 below ``FLOOR``)."""
    if seconds <= FLOOR:
        return 0
    return 1 + int(math.log(seconds / FLOOR, RATIO))


def bucket_value(index: int) -> float:
    """A duration that stands for its bucket: the geometric middle of its bounds."""
    if index == 0:
        return FLOOR
    return FLOOR * RATIO ** (index - 0.5)


@dataclass(slots=True)
class _StepSlot:
    runs: int = 0
    failures: int = 0
    latency: dict[int, int] = field(default_factory=dict)  # bucket -> runs


@dataclass(slots=True)
class _Slot:
    start: float
    runs: int = 0
    successes: int = 0
    steps: dict[str, _StepSlot] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepSummary:
    name: str
    integration: str | None
    runs: int
    failures: int
    percentiles: tuple[tuple[float, float], ...]  # (quantile, seconds), none without runs


@dataclass(frozen=True, slots=True)
class FlowSummary:
    """A flow over a period: how often it ran and passed, and each step's share in that."""

    runs: int
    successes: int
    steps: tuple[StepSummary, ...]
    since: float  # the start of the first slot counted
    until: float  # the end of the last

    @property
    def success_ratio(self) -> float | None:
        return self.successes / self.runs if self.runs else None

    @property
    def most_failing(self) -> StepSummary | None:
        """The step that failed most often (the earlier one on a tie); None if none failed."""
        worst = max(self.steps, key=lambda s: s.failures, default=None)
        return worst if worst is not None and worst.failures else None


class FlowHistory:
    """One flow probe's runs, slot by slot. Only the App's store writes it."""

    def __init__(self) -> None:
        self._slots: deque[_Slot] = deque(maxlen=KEEP)
        self._integrations: dict[str, str | None] = {}  # step -> the integration it calls

    def add(self, result: Result) -> None:
        start = result.started - result.started % SLOT
        if not self._slots or self._slots[-1].start < start:
            self._slots.append(_Slot(start))
        slot = next((s for s in reversed(self._slots) if s.start == start), self._slots[-1])
        slot.runs += 1
        slot.successes += result.success
        for step in result.steps:
            self._integrations[step.name] = step.integration
            counts = slot.steps.setdefault(step.name, _StepSlot())
            counts.runs += 1
            counts.failures += not step.success
            index = bucket(step.duration)
            counts.latency[index] = counts.latency.get(index, 0) + 1

    @property
    def slots(self) -> Iterator[float]:
        """The start of every slot held, oldest first."""
        return (slot.start for slot in self._slots)

    def summary(self, since: float, until: float) -> FlowSummary:
        """The runs whose slot overlaps ``[since, until]``."""
        slots = [s for s in self._slots if s.start + SLOT > since and s.start <= until]
        steps = []
        for name, integration in self._integrations.items():
            parts = [s.steps[name] for s in slots if name in s.steps]
            latency: dict[int, int] = {}
            for part in parts:
                for index, count in part.latency.items():
                    latency[index] = latency.get(index, 0) + count
            steps.append(
                StepSummary(
                    name,
                    integration,
                    sum(p.runs for p in parts),
                    sum(p.failures for p in parts),
                    tuple(zip(PERCENTILES, quantiles(latency), strict=False)),
                )
            )
        return FlowSummary(
            runs=sum(s.runs for s in slots),
            successes=sum(s.successes for s in slots),
            steps=tuple(steps),
            since=slots[0].start if slots else since,
            until=slots[-1].start + SLOT if slots else until,
        )


def quantiles(latency: dict[int, int], wanted: Iterable[float] = PERCENTILES) -> list[float]:
    """Each wanted quantile of the bucketed latencies (none when there are none)."""
    total = sum(latency.values())
    if not total:
        return []
    ordered = sorted(latency.items())
    return [_at(ordered, q * total) for q in wanted]


def _at(ordered: list[tuple[int, int]], rank: float) -> float:
    seen = 0
    for index, count in ordered:
        seen += count
        if seen >= rank:
            return bucket_value(index)
    return bucket_value(ordered[-1][0])


def from_results(results: Iterable[Result]) -> dict[str, FlowHistory]:
    """Histories of the runs given (``oversight report`` from one pass)."""
    histories: dict[str, FlowHistory] = {}
    for result in results:
        if result.steps:
            histories.setdefault(result.probe_id, FlowHistory()).add(result)
    return histories
