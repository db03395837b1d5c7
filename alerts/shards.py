"""alerts/rules/shards.yml: one state per integration from a sharded prober's agents."""

from __future__ import annotations

from alerts.common import Group, Rule, RuleFile, comment, record
from alerts.params import Params

HEADER = """
    Oversight recording rules for sharded probers (Prometheus >= 2.42): each integration's state
    as one sharded prober sees it, from the agents that run its shards.

    A sharded agent (oversight run --shard, agent.shard, OVERSIGHT_SHARDS) runs the probes of its
    shard only, and says which in oversight_build_info{shard="i/n"}; it states an integration
    over the probes it holds. One prober per location runs n shards, each by two agents (an HA
    pair). Here, per location and integration:

      - the pair: the state both agents of a shard agree on, the better of the two (an agent
        that has no result yet, after a restart, is left out while the other knows);
      - the shards: the worst pair's state: down or impacted, else unknown, else degraded, else
        ok, as an agent ranks its probes;
      - across shards, an integration down while a dependency it names is down or impacted (as
        the prober sees it) is impacted by that dependency: an agent sees the state of the
        integrations it holds only.

    States are numbered as the dashboards number them: unknown 0, ok 1, degraded 2, impacted 3,
    down 4. Agents without a shard (sidecars) keep their own series and are left out here.
    integrations.yml and the dashboards read an agent's own series unless it is sharded, and
    these instead.
"""

# Agents that run a shard, with it: one series per agent.
SHARDED = 'max by (agent, location, shard) (oversight_build_info{shard!=""})'

AGENT_CODE = f"""
    (
        4 * max without (state, root_cause) (oversight_integration_state{{state="down"}})
      or
        3 * max without (state, root_cause) (oversight_integration_state{{state="impacted"}})
      or
        2 * max without (state, root_cause) (oversight_integration_state{{state="degraded"}})
      or
        1 * max without (state, root_cause) (oversight_integration_state{{state="ok"}})
      or
        0 * max without (state, root_cause) (oversight_integration_state{{state="unknown"}})
    )
    * on (agent, location) group_left (shard)
    {SHARDED}
"""

PAIR_CODE = """
    min by (location, shard, pattern, integration, scope) (shard_agent_integration:oversight_integration_state:code > 0)
    or
    min by (location, shard, pattern, integration, scope) (shard_agent_integration:oversight_integration_state:code)
"""

SHARDS_CODE = """
    max by (location, pattern, integration, scope) (shard_integration:oversight_integration_state:code) >= 3
    or
    min by (location, pattern, integration, scope) (shard_integration:oversight_integration_state:code) == 0
    or
    max by (location, pattern, integration, scope) (shard_integration:oversight_integration_state:code)
"""

DEPENDENCY_DOWN = f"""
    max by (location, pattern, integration, scope, root_cause) (
        label_replace(
          oversight_integration_depends_on * on (agent, location) group_left () {SHARDED},
          "root_cause", "$1", "dependency", "(.*)"
        )
      * on (location, root_cause) group_left ()
        label_join(
          location_integration:oversight_integration_state:code_by_shard >= 3,
          "root_cause", "/", "pattern", "integration"
        )
    )
"""

CODE = """
    (
        location_integration:oversight_integration_state:code_by_shard == 4
      and on (location, pattern, integration, scope)
        location_integration:oversight_dependency_down:root_cause
    ) - 1
    or
    location_integration:oversight_integration_state:code_by_shard
"""

IMPACTED = f"""
    0 * (
        topk by (location, pattern, integration, scope) (1,
          count by (location, pattern, integration, scope, root_cause) (
            oversight_integration_state{{state="impacted"}} * on (agent, location) group_left () {SHARDED}
          )
        )
      or on (location, pattern, integration, scope)
        topk by (location, pattern, integration, scope) (1, location_integration:oversight_dependency_down:root_cause)
    ) + 1
    and on (location, pattern, integration, scope)
    location_integration:oversight_integration_state:code == 3
"""

STATES = """
    label_replace(0 * (location_integration:oversight_integration_state:code == 4) + 1, "state", "down", "", "")
    or
    label_replace(location_integration:oversight_integration_state:impacted, "state", "impacted", "", "")
    or
    label_replace(0 * (location_integration:oversight_integration_state:code == 2) + 1, "state", "degraded", "", "")
    or
    label_replace(0 * (location_integration:oversight_integration_state:code == 1) + 1, "state", "ok", "", "")
    or
    label_replace(0 * (location_integration:oversight_integration_state:code == 0) + 1, "state", "unknown", "", "")
"""

FLAPPING = f"""
    max by (location, pattern, integration, scope) (
      min by (location, shard, pattern, integration, scope) (
        oversight_integration_flapping * on (agent, location) group_left (shard) {SHARDED}
      )
    )
"""


def _rules() -> tuple[Rule, ...]:
    return (
        record(
            "shard_agent_integration:oversight_integration_state:code",
            AGENT_CODE,
            comment="""
                Each sharded agent's state of each integration it holds, as a number, with the
                agent's shard (from oversight_build_info).
            """,
        ),
        record(
            "shard_integration:oversight_integration_state:code",
            PAIR_CODE,
            comment="""
                A shard's pair: the state both agents agree on (the lower number; one still at
                unknown, 0, is left out while the other knows).
            """,
        ),
        record(
            "location_integration:oversight_integration_state:code_by_shard",
            SHARDS_CODE,
            comment="""
                The prober's shards together: impacted or down (3, 4) when a pair says so, else
                unknown when a pair does not know, else the worse of degraded and ok.
            """,
        ),
        record(
            "location_integration:oversight_dependency_down:root_cause",
            DEPENDENCY_DOWN,
            comment="""
                An integration's dependencies (oversight_integration_depends_on) that the prober
                sees down or impacted, each as root_cause: the agent holding the integration may
                hold none of the dependency's probes.
            """,
        ),
        record(
            "location_integration:oversight_integration_state:code",
            CODE,
            comment="""
                The prober's state of the integration: down becomes impacted (3) while one of its
                dependencies is down or impacted.
            """,
        ),
        record(
            "location_integration:oversight_integration_state:impacted",
            IMPACTED,
            comment="""
                The root cause of an impacted integration: the one most of the prober's agents
                name, else the dependency the rule above found down.
            """,
        ),
        record(
            "location_integration:oversight_integration_state:shards",
            STATES,
            comment="""
                The state as the prober's one series per integration, shaped as an agent's
                oversight_integration_state (state, and root_cause when impacted; value 1),
                without an agent label: what the alerts and dashboards read for sharded agents.
            """,
        ),
        record(
            "location_integration:oversight_integration_flapping:shards",
            FLAPPING,
            comment="""
                Flapping as the prober sees it: both agents of a pair, on any shard.
            """,
        ),
    )


def build(p: Params) -> RuleFile:
    return RuleFile(
        "shards.yml",
        "alerts/shards.py",
        comment(HEADER),
        (Group("oversight.shards", _rules()),),
    )
