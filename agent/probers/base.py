"""The one interface every prober implements, the context a run carries, and a kind's spec."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from agent.conditions.facts import RESPONSE_TIME, Fact
from agent.probers.shared import Shared
from agent.results import Breach, Capacity, Labelled, ProbeFailed, StepResult
from agent.vocabulary import PROBE_PHASES, Detail, Family

__all__ = [
    "Endpoint",
    "Known",
    "ProbeContext",
    "ProbeFailed",
    "Prober",
    "ProberSpec",
    "Request",
    "Response",
    "StepSpan",
    "StepTracer",
    "lazy",
]

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Known:
    """What the planner knows of the whole config, for a kind's own checks of its settings:
    every integration (pattern/name) and every value that came from the environment."""

    integrations: Collection[str]
    secrets: Collection[str] = ()


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request a probe sends, for the policies that judge requests (HTTPS, contract).

    A flow sends one per step: ``step`` names it and ``integration`` is the pattern/name it
    calls when that is not the probe's own.
    """

    method: str
    url: str  # as configured: may hold credentials, never shown as it is
    step: str = ""
    integration: str | None = None
    # the headers it sends as configured, a credential's Authorization among them, each
    # secret value already masked (the probe debug page shows them)
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Response:
    """One answer a run received and the request that asked for it: what the policies that
    judge responses (sensitive data, security headers, contract) read. ``facts`` are those
    conditions read (``STATUS``, ``HEADER``, ``BODY``); they live as long as the run."""

    request: Request | None
    facts: Mapping[str, Any]


class StepSpan(Protocol):
    """The trace side of one step of a run: the headers its request carries (its own span's
    ``traceparent``), ended with the step's outcome."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    def end(self, step: StepResult) -> None: ...


class StepTracer(Protocol):
    """Starts a step's span, a child of the run's: ``(name, attributes) -> StepSpan``."""

    def __call__(self, name: str, attributes: Mapping[str, Any], /) -> StepSpan: ...


@dataclass(frozen=True, slots=True)
class _UntracedStep:
    """A step nobody traces: its request carries the run's trace context, if any."""

    headers: Mapping[str, str]

    def end(self, step: StepResult) -> None:
        return None


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
    # What the target says of itself (a plugin's first line): the Result's message on success.
    message: str = ""
    # Levels the target reports crossing itself (a plugin's warning), beside the thresholds.
    breaches: list[Breach] = field(default_factory=list)
    series: list[Labelled] = field(default_factory=list)
    # Each answer of a multi-request run (a flow) for the policies; empty: the run's facts.
    responses: list[Response] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    cause: str | None = None  # pattern/name a failure is attributed to (a flow step's)
    # Texts a run learned that must not leave it (credentials sent, values captured): the
    # runner scrubs them from every text of the Result.
    secrets: set[str] = field(default_factory=set)
    tracer: StepTracer | None = None
    doing: str = ""  # what the run is busy with, for a timeout's message (default: its phase)

    def step_span(self, name: str, attributes: Mapping[str, Any]) -> StepSpan:
        """A child span for one step of this run (untraced: the run's own headers)."""
        if self.tracer is None:
            return _UntracedStep(self.trace_headers)
        return self.tracer(name, attributes)

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


def lazy(module: str) -> Prober:
    """The ``probe`` of ``module``, imported on the first run: a kind whose library is large
    (gRPC, cryptography, dnspython) costs a config that does not use it nothing."""
    loaded: list[Prober] = []

    async def probe(config: Any, context: ProbeContext) -> None:
        if not loaded:
            loaded.append(importlib.import_module(module).probe)
        await loaded[0](config, context)

    return probe


def _never(_: Any) -> bool:
    return False


def _nowhere(_: Any) -> None:
    return None


def _no_attributes(_: Any) -> Mapping[str, Any]:
    return {}


def _calls_none(_: Any) -> tuple[str, ...]:
    return ()


def _no_problems(_: Any, __: Known) -> Iterable[tuple[KeyPath, str]]:
    return ()


def _as_is(config: Any, _: str) -> Any:
    return config


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
    ``requests`` are all the requests a run sends when there are several (a flow's steps);
    ``calls`` the other integrations (pattern/name) a run calls; ``problems`` what is wrong
    with the settings given the whole config (``Known``), as (key path under the kind's
    block, message), for the planner to report at their lines; ``bind`` the settings with
    what only the plan knows filled in: the probe's own integration (pattern/name).
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
    requests: Callable[[Any], tuple[Request, ...]] | None = None
    calls: Callable[[Any], tuple[str, ...]] = _calls_none
    problems: Callable[[Any, Known], Iterable[tuple[KeyPath, str]]] = _no_problems
    bind: Callable[[Any, str], Any] = _as_is

    def all_requests(self, config: Any) -> tuple[Request, ...]:
        """Every HTTP request a run sends (none for a kind that sends none)."""
        if self.requests is not None:
            return self.requests(config)
        request = self.request(config)
        return () if request is None else (request,)

    def fact_table(self) -> Mapping[str, Fact]:
        return {f.name: f for f in (*self.facts, RESPONSE_TIME)}

    @property
    def reads_body(self) -> bool:
        """Whether its runs hold a response body (``[BODY]``), for the policies that read one."""
        return any(f.name == "BODY" for f in self.facts)
