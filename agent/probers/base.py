"""The one interface every prober implements, the context a run carries, and a kind's spec."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from agent.conditions.facts import RESPONSE_TIME, Fact
from agent.probers.shared import Shared
from agent.results import Capacity, ProbeFailed
from agent.vocabulary import PROBE_PHASES, Detail, Family

__all__ = ["Endpoint", "ProbeContext", "ProbeFailed", "Prober", "ProberSpec", "Request"]


@dataclass
class ProbeContext:
    """Everything one run needs and everything it records.

    A prober records phases, values, details and condition facts here as it goes, so that a
    run cut short by the deadline still reports what it had measured. It adds to ``secrets``
    every credential it sends (a token read from its file, a header, a password): the runner
    masks them, and the agent's known secrets, in all the Result says, whatever the target
    echoed. One context per run; it is never shared between runs.
    """

    deadline: float  # time.monotonic() by which the run must end
    log: logging.LoggerAdapter[logging.Logger]
    shared: Shared = field(default_factory=Shared)
    trace_headers: Mapping[str, str] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    values: dict[Family, float] = field(default_factory=dict)
    info: dict[Detail, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    capacity: list[Capacity] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)

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
class Endpoint:
    """Where a probe goes, without credentials: span attributes and audit events name it."""

    host: str
    port: int | None = None
    url: str | None = None  # the full URL, credentials and secret parameters masked


@dataclass(frozen=True, slots=True)
class Request:
    """The HTTP request a probe sends, for the policies that judge requests (HTTPS, contract)."""

    method: str
    url: str  # as configured: may hold credentials, never shown as it is


def _never(_: Any) -> bool:
    return False


def _nowhere(_: Any) -> None:
    return None


def _no_attributes(_: Any) -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True, slots=True)
class ProberSpec:
    """Everything the agent knows about one probe kind; nothing else asks ``kind == ...``.

    ``default_conditions`` apply when a probe lists none (an HTTP probe succeeds on 2xx).
    ``target`` renders the settings as a short, secret-free string for labels and tables.
    ``families`` are the value and ``*_info`` families its runs may record, and a test holds
    every kind to them. ``network`` kinds talk to a peer (a CLIENT span); ``availability``
    kinds' runs say whether the integration answers (the SLA and SLO windows count them),
    where resource kinds measure the neighbourhood. ``tls`` says whether a run with these
    settings reports a TLS handshake; ``request`` is the HTTP request it sends, if it sends
    one; ``anonymous`` gives the same settings without any credential (the auth check).
    """

    kind: str
    model: type[BaseModel]
    probe: Prober
    facts: tuple[Fact, ...]
    families: tuple[Family, ...] = ()
    default_conditions: tuple[str, ...] = ()
    target: Callable[[Any], str] = str
    signals: tuple[str, ...] = ("latency",)
    network: bool = True
    availability: bool = True
    phase_family: Family = PROBE_PHASES
    tls: Callable[[Any], bool] = _never
    endpoint: Callable[[Any], Endpoint | None] = _nowhere
    attributes: Callable[[Any], Mapping[str, Any]] = _no_attributes
    request: Callable[[Any], Request | None] = _nowhere
    anonymous: Callable[[Any], Any] | None = None

    def fact_table(self) -> Mapping[str, Fact]:
        return {f.name: f for f in (*self.facts, RESPONSE_TIME)}

    @property
    def reads_body(self) -> bool:
        """Whether its runs hold a response body (``[BODY]``), for the policies that read one."""
        return any(f.name == "BODY" for f in self.facts)
