"""What every view reads: the plan, the latest results and the derived states, at one moment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent.evaluation.state import IntegrationStatus
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


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Read-only views over live maps: render it synchronously, do not keep it across awaits."""

    plan: Plan
    latest: Mapping[str, Result]
    totals: Mapping[str, ProbeTotals]
    states: Mapping[str, IntegrationStatus]
    agent: AgentHealth
    taken: float
