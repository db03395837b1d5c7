"""A shard's share of the plan: which shard this agent runs, and the plan cut down to it.

Every agent validates and plans the whole config first, so a config is valid or broken the
same way for every shard; then it keeps what its shard owns (agent/sharding.py):

- probes: those whose id the shard owns; a derived compliance check (``.auth_check``) goes
  with the probe it is derived from;
- integrations: those it holds at least one probe of, each listing only those probes. The
  others are left out entirely: no state, info or compliance series, nothing in the status
  API. An integration split over shards is stated by each shard over its own probes, and the
  shipped recording rules combine the shards (alerts/README.md, "Sharded probers");
- patterns: those it holds an integration of; compliance: the held integrations, judged over
  the held probes. A per-run policy whose probes all run on other shards is not applicable
  here, and says so.

Dependencies and flow steps may still name integrations held elsewhere: this agent cannot see
their state, so it finds root causes (``impacted``) only among the integrations it holds.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType

from agent.config import ConfigError, Problem
from agent.plan import IntegrationCompliance, IntegrationPlan, Plan, ProbePlan
from agent.policies import REGISTRY as POLICIES
from agent.sharding import Shard, ShardError, shard_from_environment

ELSEWHERE = "judged on another shard: the probes it applies to run there"


def choose_shard(flag: Shard | None, plan: Plan, env: Mapping[str, str]) -> Shard | None:
    """The shard this agent runs: ``--shard``, else ``agent.shard``, else the environment
    (``OVERSIGHT_SHARD``, ``OVERSIGHT_SHARDS``); None runs every probe."""
    if flag is not None:
        return flag
    if plan.agent.shard is not None:
        return Shard(plan.agent.shard.index, plan.agent.shard.total)
    try:
        return shard_from_environment(env)
    except ShardError as error:
        raise ConfigError([Problem("environment", None, "", str(error))]) from None


def share(plan: Plan, shard: Shard | None) -> Plan:
    """``plan`` cut down to what ``shard`` owns (see the module's docstring)."""
    if shard is None:
        return plan
    probes = {
        key: probe
        for key, probe in plan.probes.items()
        if shard.total == 1 or shard.owns(probe.derived_from or key)
    }
    integrations: dict[str, IntegrationPlan] = {}
    for key, integration in plan.integrations.items():
        held = tuple(p for p in integration.probes if p in probes)
        if len(held) == len(integration.probes):
            integrations[key] = integration
        elif held:
            integrations[key] = dataclasses.replace(integration, probes=held)
    patterns = {i.pattern for i in integrations.values()}
    compliance = plan.compliance
    if compliance.enabled:
        compliance = dataclasses.replace(
            compliance,
            integrations=MappingProxyType(
                {
                    key: _held_compliance(settings, key, probes)
                    for key, settings in compliance.integrations.items()
                    if key in integrations
                }
            ),
        )
    return dataclasses.replace(
        plan,
        probes=MappingProxyType(probes),
        integrations=MappingProxyType(integrations),
        pattern_owners=MappingProxyType(
            {name: owner for name, owner in plan.pattern_owners.items() if name in patterns}
        ),
        compliance=compliance,
        kinds=MappingProxyType(dict(sorted(Counter(p.kind for p in probes.values()).items()))),
        shard=shard,
    )


def _held_compliance(
    settings: IntegrationCompliance, key: str, probes: Mapping[str, ProbePlan]
) -> IntegrationCompliance:
    """The integration's policies as this shard judges them: a per-run policy attached to no
    held probe is not applicable here, with the reason (the shard holding them judges it)."""
    attached = {
        policy.name
        for probe in probes.values()
        if probe.integration_key == key
        for policy in probe.policies
    }
    elsewhere = {
        name: ELSEWHERE
        for name in settings.blocks
        if not POLICIES[name].window and name not in settings.unattached and name not in attached
    }
    if not elsewhere:
        return settings
    return dataclasses.replace(
        settings, unattached=MappingProxyType({**settings.unattached, **elsewhere})
    )
