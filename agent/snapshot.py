"""What every view reads: the plan, the latest results and the derived states, at one moment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from agent.audit.log import AuditSnapshot
from agent.evaluation.compliance import ComplianceView
from agent.evaluation.state import IntegrationStatus
from agent.history import RunHistory
from agent.loop_lag import LoopLagStats
from agent.plan import Plan
from agent.results import Result
from agent.scheduler import SchedulerStats
from agent.store import ProbeTotals


@dataclass(frozen=True, slots=True)
class AgentHealth:
    started: float
    ready: bool
    ready_reason: str
    reload_successful: bool
    last_reload_success: float
    scheduler: SchedulerStats
    loop_lag: LoopLagStats
    # failed exports by (exporter, signal), e.g. ("otlp", "traces"); empty when none export
    export_failures: Mapping[tuple[str, str], int] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # items dropped before export (a full queue) by (exporter, signal), e.g. ("otlp", "traces")
    export_dropped: Mapping[tuple[str, str], int] = field(
        default_factory=lambda: MappingProxyType({})
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Read-only views over live maps: render it synchronously, do not keep it across awaits."""

    plan: Plan
    latest: Mapping[str, Result]
    totals: Mapping[str, ProbeTotals]
    states: Mapping[str, IntegrationStatus]
    agent: AgentHealth
    taken: float
    compliance: ComplianceView | None = None  # None where nothing evaluates compliance
    audit: AuditSnapshot | None = None  # None when no audit log is configured
    runs: Mapping[str, RunHistory] = field(default_factory=lambda: MappingProxyType({}))
