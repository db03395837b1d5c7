"""The immutable plan: every probe to run, resolved, checked and compiled once per (re)load."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from agent.compliance.compile import CompliancePlan, compile_compliance
from agent.compliance.config import AuditConfig
from agent.conditions.parser import compile_condition
from agent.config import ConfigError, LoadedConfig, Problem
from agent.config.models import DEFAULT_OBJECTIVES, AgentSettings, Config, ExportersConfig
from agent.evaluation.thresholds import SIGNALS, ThresholdRule
from agent.probers import REGISTRY
from agent.probers.shared import Shared
from agent.results import Result
from agent.runner import Condition, Policy, execute


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
    derived_from: str | None = None  # the probe an auth check was derived from

    @property
    def labels(self) -> tuple[str, str, str, str]:
        return (self.pattern, self.integration, self.scope, self.name)

    async def run(
        self,
        shared: Shared,
        *,
        log: logging.LoggerAdapter[logging.Logger] | None = None,
        trace_headers: Mapping[str, str] | None = None,
        trace_id: str | None = None,
    ) -> Result:
        """One run of this probe as the agent makes it: its kind, deadline, conditions,
        thresholds and policies. Never raises for a target's fault."""
        return await execute(
            REGISTRY[self.kind],
            self.settings,
            probe_id=self.id,
            timeout=self.timeout,
            conditions=self.conditions,
            thresholds=self.thresholds,
            shared=shared,
            log=log,
            trace_headers=trace_headers,
            trace_id=trace_id,
            policies=self.policies,
        )


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
    probes: tuple[str, ...]  # probe ids
    availability_objective: float  # e.g. 0.999


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
    compliance: CompliancePlan = field(default_factory=CompliancePlan)
    audit: AuditConfig | None = None


def build_plan(loaded: LoadedConfig) -> Plan:
    """Check what a model cannot check alone and compile; raise ConfigError with every problem."""
    config = loaded.config
    problems: list[Problem] = []
    integrations: dict[str, IntegrationPlan] = {}
    probes: dict[str, ProbePlan] = {}
    for pattern_name, pattern in config.patterns.items():
        for name, integration in pattern.integrations.items():
            ipath: tuple[str | int, ...] = ("patterns", pattern_name, "integrations", name)
            probe_ids = []
            for probe_name, probe in integration.probes.items():
                ppath = (*ipath, "probes", probe_name)
                compiled = _compile_probe(
                    loaded,
                    config,
                    ppath,
                    pattern_name,
                    name,
                    integration.scope,
                    probe_name,
                    probe,
                    problems,
                )
                if compiled is not None:
                    probes[compiled.id] = compiled
                    probe_ids.append(compiled.id)
            integrations[f"{pattern_name}/{name}"] = IntegrationPlan(
                key=f"{pattern_name}/{name}",
                pattern=pattern_name,
                name=name,
                scope=integration.scope,
                criticality=integration.criticality,
                owner=integration.owner or pattern.owner or "unowned",
                runbook=integration.runbook or "",
                description=integration.description,
                depends_on=integration.depends_on,
                probes=tuple(probe_ids),
                availability_objective=(
                    integration.slo.availability or DEFAULT_OBJECTIVES[integration.criticality]
                ),
            )
    probes, compliance = compile_compliance(loaded, integrations, probes, problems)
    if problems:
        raise ConfigError(tuple(sorted(problems, key=lambda p: (p.line or 0, p.path))))
    return Plan(
        agent=config.agent,
        exporters=config.exporters,
        pattern_owners=MappingProxyType(
            {n: p.owner or "unowned" for n, p in config.patterns.items()}
        ),
        integrations=MappingProxyType(integrations),
        probes=MappingProxyType(probes),
        digest=loaded.digest,
        source=loaded.path,
        secrets=loaded.secrets,
        const_labels=_const_labels(config.agent),
        compliance=compliance,
        audit=config.audit,
    )


def _const_labels(agent: AgentSettings) -> tuple[tuple[str, str], ...]:
    """Labels on every series: the configured ones, then who is watching and from where.

    Several agents (sidecars in different zones) may watch one partner; ``agent`` and
    ``location`` let alert rules count how many of them see it down.
    """
    name = agent.name or os.environ.get("POD_NAME") or socket.gethostname()
    location = agent.location or os.environ.get("OVERSIGHT_LOCATION")
    labels = [*agent.labels.items(), ("agent", name)]
    if location:
        labels.append(("location", location))
    return tuple(labels)


def _compile_probe(
    loaded: LoadedConfig,
    config: Config,
    path: tuple[str | int, ...],
    pattern: str,
    integration: str,
    scope: str,
    name: str,
    probe: Any,
    problems: list[Problem],
) -> ProbePlan | None:
    """Resolve defaults and compile. Conditions and signals were checked as the file loaded;
    what is left is a timeout that outgrows an interval inherited from ``agent``."""
    spec = REGISTRY[probe.kind]
    interval = probe.interval or config.agent.interval
    timeout = probe.timeout or min(config.agent.timeout, interval)
    if timeout > interval:
        problems.append(
            loaded.problem(
                (*path, "timeout"),
                f"timeout {timeout:g}s is longer than the interval {interval:g}s",
            )
        )
        return None
    table = spec.fact_table()
    conditions = tuple(
        compile_condition(text, table) for text in probe.conditions or spec.default_conditions
    )
    rules = tuple(
        ThresholdRule(SIGNALS[signal], levels.warning, levels.critical)
        for signal, levels in probe.thresholds.items()
    )
    settings = probe.settings
    return ProbePlan(
        id=f"{pattern}/{integration}/{name}",
        pattern=pattern,
        integration=integration,
        name=name,
        kind=spec.kind,
        scope=scope,
        interval=interval,
        timeout=timeout,
        settings=settings,
        conditions=conditions,
        thresholds=rules,
        target=spec.target(settings),
        digest=hashlib.sha256(probe.model_dump_json().encode()).hexdigest()[:16],
    )
