"""Build the plan: resolve each probe's defaults, check what a model cannot check alone.

What one probe's model can say about itself was said as the file loaded (unknown keys, bad
conditions, unknown signals, a timeout that does not fit its interval); what needs the whole
config is checked here: the compliance policies that name probes. Every problem is
collected, so ``oversight check`` prints them all at once.
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from agent.conditions.evaluate import Condition
from agent.conditions.parser import compile_condition
from agent.config import ConfigError, LoadedConfig, Problem, load_config
from agent.config.models import DEFAULT_OBJECTIVES, AgentSettings
from agent.plan import IntegrationPlan, Plan, ProbePlan
from agent.planning.compliance import compile_compliance
from agent.planning.shard import choose_shard, share
from agent.probers import REGISTRY
from agent.probers.base import Known, ProberSpec
from agent.sharding import Shard
from agent.thresholds import SIGNALS, ThresholdRule
from agent.timing import resolve

KeyPath = tuple[str | int, ...]


def load_plan(
    path: str | Path, *, shard: Shard | None = None, env: Mapping[str, str] | None = None
) -> Plan:
    """Load, validate and compile a config file, then keep this agent's shard of it: ``shard``
    (``--shard``), else ``agent.shard``, else the one ``env`` (default: the process's
    environment) names. Raises ConfigError listing every problem."""
    plan = build_plan(load_config(path))
    return share(plan, choose_shard(shard, plan, os.environ if env is None else env))


def build_plan(loaded: LoadedConfig) -> Plan:
    """Check what a model cannot check alone and compile; raise ConfigError with every problem."""
    config = loaded.config
    problems: list[Problem] = []
    integrations: dict[str, IntegrationPlan] = {}
    probes: dict[str, ProbePlan] = {}
    known = Known(
        {f"{p}/{i}" for p, pattern in config.patterns.items() for i in pattern.integrations},
        loaded.secrets,
    )
    for pattern_name, pattern in config.patterns.items():
        for name, integration in pattern.integrations.items():
            path: KeyPath = ("patterns", pattern_name, "integrations", name)
            ids: list[str] = []
            calls: list[str] = []
            for probe_name, probe in integration.probes.items():
                where = (*path, "probes", probe_name)
                problems += _kind_problems(loaded, where, probe, known)
                compiled = _probe(loaded, where, pattern_name, name, integration.scope, probe)
                probes[compiled.id] = compiled
                ids.append(compiled.id)
                calls += REGISTRY[compiled.kind].calls(compiled.settings)
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
                probes=tuple(ids),
                calls=tuple(k for k in dict.fromkeys(calls) if k != f"{pattern_name}/{name}"),
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
        kinds=MappingProxyType(dict(sorted(Counter(p.kind for p in probes.values()).items()))),
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


@functools.cache
def default_conditions(spec: ProberSpec) -> tuple[Condition, ...]:
    """A kind's default conditions, compiled once for every probe that lists none."""
    table = spec.fact_table()
    return tuple(compile_condition(text, table) for text in spec.default_conditions)


def _kind_problems(loaded: LoadedConfig, where: KeyPath, probe: Any, known: Known) -> list[Problem]:
    """What the kind finds wrong with its settings given the whole config (a flow step that
    calls no configured integration), at the lines they were written."""
    spec = REGISTRY[probe.kind]
    return [
        loaded.problem((*where, spec.kind, *subpath), message)
        for subpath, message in spec.problems(probe.settings, known)
    ]


def _probe(
    loaded: LoadedConfig, path: KeyPath, pattern: str, integration: str, scope: str, probe: Any
) -> ProbePlan:
    spec = REGISTRY[probe.kind]
    agent = loaded.config.agent
    interval, timeout = resolve(probe.interval, probe.timeout, agent.interval, agent.timeout)
    settings = spec.bind(probe.settings, f"{pattern}/{integration}")
    name = path[-1]
    return ProbePlan(
        id=f"{pattern}/{integration}/{name}",
        pattern=pattern,
        integration=integration,
        name=str(name),
        kind=spec.kind,
        scope=scope,
        interval=interval,
        timeout=timeout,
        settings=settings,
        conditions=probe.conditions or default_conditions(spec),
        thresholds=tuple(
            ThresholdRule(SIGNALS[signal], levels.warning, levels.critical)
            for signal, levels in probe.thresholds.items()
        ),
        target=spec.target(settings),
        digest=hashlib.sha256(probe.model_dump_json().encode()).hexdigest()[:16],
        histogram=agent.histograms if probe.histogram is None else probe.histogram,
        retries=probe.retries,
        retry_backoff=probe.retry_backoff,
    )
