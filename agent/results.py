"""The immutable record of one probe run, and the closed set of reasons a run can fail."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from agent.vocabulary import Detail, Family


class Reason(StrEnum):
    """Why a probe failed. Closed on purpose: alerts and dashboards group by it."""

    TIMEOUT = "timeout"
    CONNECT_REFUSED = "connect_refused"
    CONNECT_ERROR = "connect_error"
    DNS_ERROR = "dns_error"
    TLS_ERROR = "tls_error"
    PROTOCOL_ERROR = "protocol_error"
    STATUS_MISMATCH = "status_mismatch"
    BODY_MISMATCH = "body_mismatch"
    HEADER_MISMATCH = "header_mismatch"
    ANSWER_MISMATCH = "answer_mismatch"
    TLS_MISMATCH = "tls_mismatch"
    THRESHOLD = "threshold"
    TOO_LARGE = "too_large"
    REDIRECT_LIMIT = "redirect_limit"
    CONDITION_FAILED = "condition_failed"
    CHECK_UNKNOWN = "check_unknown"  # a Nagios-style check could not tell (exit 3, or no run)
    INTERNAL_ERROR = "internal_error"


class ProbeFailed(Exception):
    """Raised by a prober for a target's fault: the run fails with this reason and message."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class ConditionOutcome:
    """One condition as evaluated, readable as ``[STATUS] (503) == 200``."""

    text: str
    success: bool
    observed: str


@dataclass(frozen=True, slots=True)
class Breach:
    """A threshold crossed by an observed value (``limit`` is in the signal's unit)."""

    signal: str
    severity: Severity
    value: float
    limit: float


class Compliance(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True, slots=True)
class Finding:
    """One compliance policy as one run saw it. ``evidence`` is already masked: a card number
    shows as ``**** 1111``, never in full."""

    policy: str
    status: Compliance
    reason: str = ""
    evidence: str = ""
    subject: str | None = None  # pattern/name it is about, when not the probe's own (a flow step)


@dataclass(frozen=True, slots=True)
class Capacity:
    """How much of a resource is used and how much there is: memory, descriptors, a pool,
    a partner's rate-limit quota. Either side may be unknown (None)."""

    resource: str  # e.g. "memory", "open_fds", "pool:db", "quota:requests"
    used: float | None
    limit: float | None
    unit: str = "count"  # bytes | count | seconds | ratio

    @property
    def utilisation(self) -> float | None:
        if self.used is None or not self.limit:
            return None
        return self.used / self.limit


@dataclass(frozen=True, slots=True)
class Labelled:
    """A value of a family whose series carry labels beyond the probe's: a flow step's
    duration (``step``), a plugin's perfdata (``label``, ``unit``). ``labels`` are those
    extra values, in the family's label order."""

    family: Family
    labels: tuple[str, ...]
    value: float


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step of a multi-step run (a flow) as it went. Steps after a failing one did not
    run and have no StepResult; texts are scrubbed like the run's message."""

    name: str
    integration: str | None  # pattern/name the step calls; None: the probe's own
    success: bool
    started: float  # seconds from the start of the run
    duration: float  # seconds, every request of the step (a polling step makes several)
    reason: Reason | None = None
    message: str = ""
    status: int | None = None  # HTTP status of its last response, if one came
    requests: int = 1
    conditions: tuple[ConditionOutcome, ...] = ()
    captured: tuple[tuple[str, str | None], ...] = ()  # name -> value, None when secret


@dataclass(frozen=True, slots=True)
class Result:
    """What one run of one probe saw. Built once by the runner, never changed after.

    ``values`` holds the numbers it recorded, by family (``HTTP_STATUS_CODE`` is
    ``probe_http_status_code``); ``info`` holds short strings, some of them ``*_info`` labels.
    With retries, ``attempts`` counts the tries and what is recorded is the last one's, while
    ``duration`` covers them all. ``cause`` names the integration a flow's failing step
    called, so the state names the real culprit.
    """

    probe_id: str
    started: float  # unix seconds
    duration: float  # seconds, the whole run
    success: bool
    reason: Reason | None = None
    message: str = ""
    phases: tuple[tuple[str, float], ...] = ()
    values: tuple[tuple[Family, float], ...] = ()
    info: tuple[tuple[Detail, str], ...] = ()
    conditions: tuple[ConditionOutcome, ...] = ()
    breaches: tuple[Breach, ...] = ()
    trace_id: str | None = None
    capacity: tuple[Capacity, ...] = ()
    findings: tuple[Finding, ...] = ()
    attempts: int = 1  # runs of the prober: more than one when a retry was needed
    steps: tuple[StepResult, ...] = ()
    series: tuple[Labelled, ...] = ()
    cause: str | None = None  # pattern/name a failure is attributed to, when not the probe's own

    def value(self, family: Family) -> float | None:
        for key, value in self.values:
            if key is family:
                return value
        return None

    def info_value(self, detail: Detail) -> str | None:
        for key, value in self.info:
            if key is detail:
                return value
        return None
