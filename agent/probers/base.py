"""The one interface every prober implements, and the context a run carries."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from agent.conditions.facts import Fact
from agent.probers.shared import Shared
from agent.results import Capacity, ProbeFailed

__all__ = ["ProbeContext", "ProbeFailed", "Prober", "ProberSpec"]


@dataclass
class ProbeContext:
    """Everything one run needs and everything it records.

    A prober records phases, values, info and condition facts here as it goes, so that a run
    cut short by the deadline still reports what it had measured. One context per run; it is
    never shared between runs.
    """

    deadline: float  # time.monotonic() by which the run must end
    log: logging.LoggerAdapter[logging.Logger]
    shared: Shared = field(default_factory=Shared)
    trace_headers: Mapping[str, str] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    capacity: list[Capacity] = field(default_factory=list)

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a phase; it is recorded even when the block is cut short."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - start


class Prober(Protocol):
    """``async (config, context) -> None``: record into the context; raise ``ProbeFailed``
    for a target's fault; return when the exchange completed. The runner applies the
    deadline, evaluates conditions and thresholds over ``context.facts`` and builds the Result.
    """

    def __call__(self, config: Any, context: ProbeContext, /) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class ProberSpec:
    """One probe kind: its config model, its probe function and what conditions may test.

    ``default_conditions`` apply when a probe lists none (an HTTP probe succeeds on 2xx).
    ``target`` renders the config as a short, secret-free string for labels and tables.
    """

    kind: str
    model: type[BaseModel]
    probe: Prober
    facts: tuple[Fact, ...]
    default_conditions: tuple[str, ...] = ()
    target: Callable[[Any], str] = str
    signals: tuple[str, ...] = ("latency",)

    def fact_table(self) -> Mapping[str, Fact]:
        from agent.conditions.facts import RESPONSE_TIME

        return {f.name: f for f in (*self.facts, RESPONSE_TIME)}
