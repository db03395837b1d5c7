"""The immutable plan: every probe to run and every rule it answers to, resolved once per load.

Built by agent/planning from a validated config; read by the scheduler, the runner, the
evaluators and every output. Nothing here changes after it is built: a reload builds a new
plan and swaps one reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from agent.conditions.evaluate import Condition
from agent.config.models import AgentSettings, AuditConfig, ExportersConfig
from agent.policies.base import Block, Policy
from agent.sharding import Shard
from agent.thresholds import ThresholdRule


@dataclass(frozen=True, slots=True)
class ProbePlan:
    id: str  # pattern/integration/probe: stable across reloads
    pattern: str
    integration: str
    name: str
    kind: str
    scope: str
    interval: float
    timeout: float
    settings: Any  # the kind's frozen config model
    conditions: tuple[Condition, ...]
    thresholds: tuple[ThresholdRule, ...]
    target: str  # secret-free, for labels and tables
    digest: str  # changes iff the probe's config changed
    policies: tuple[Policy, ...] = ()  # compliance policies judged on every run
    derived_from: str | None = None  # the probe a compliance check was derived from
    histogram: bool = False  # export its run-duration histogram
    retries: int = 0  # more attempts after a failed one, inside the same timeout
    retry_backoff: float = 0.0  # seconds before the first retry, doubled before each next

    @property
    def labels(self) -> tuple[str, str, str, str]:
        return (self.pattern, self.integration, self.scope, self.name)

    @property
    def integration_key(self) -> str:
        return f"{self.pattern}/{self.integration}"


@dataclass(frozen=True, slots=True)
class IntegrationPlan:
    key: str  # pattern/name
    pattern: str
    name: str
    scope: str
    criticality: str
    owner: str
    runbook: str
    description: str
    depends_on: tuple[str, ...]
    probes: tuple[str, ...]  # probe ids (derived compliance checks are not among them)
    availability_objective: float  # e.g. 0.999
    calls: tuple[str, ...] = ()  # other integrations its probes call (a flow's steps)


@dataclass(frozen=True, slots=True)
class IntegrationCompliance:
    """What one integration must comply with: its merged policy blocks, and for those no
    probe can show, why (a policy that judges nothing stays not applicable, with a reason)."""

    blocks: Mapping[str, Block]  # enabled policy -> its merged settings, in registry order
    unattached: Mapping[str, str]
    window_limit: float  # the latency successes are counted against in the rolling window
    objective: float

    @property
    def policies(self) -> tuple[str, ...]:
        return tuple(self.blocks)


@dataclass(frozen=True, slots=True)
class CompliancePlan:
    enabled: bool = False
    window: float = 3600.0
    integrations: Mapping[str, IntegrationCompliance] = field(
        default_factory=lambda: MappingProxyType({})
    )


@dataclass(frozen=True, slots=True)
class Plan:
    agent: AgentSettings
    exporters: ExportersConfig
    pattern_owners: Mapping[str, str]
    integrations: Mapping[str, IntegrationPlan]
    probes: Mapping[str, ProbePlan]
    digest: str
    source: str
    secrets: frozenset[str]
    const_labels: tuple[tuple[str, str], ...]  # agent.labels plus agent and location
    kinds: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))  # probes a kind
    compliance: CompliancePlan = field(default_factory=CompliancePlan)
    audit: AuditConfig | None = None
    # The shard of the config's probes this plan holds (agent/planning/shard.py); None: all.
    # A sharded plan has only the integrations and patterns it holds a probe of.
    shard: Shard | None = None
