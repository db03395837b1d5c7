"""alerts/rules/integrations.yml: down, impacted, latency, certificate expiry, flapping."""

from __future__ import annotations

from alerts.common import (
    MAYBE_DEPENDENCY,
    SELF,
    SHARDED_AGENTS,
    Group,
    RuleFile,
    alert,
    comment,
    fill,
    joined,
)
from alerts.params import Params

HEADER = """
    Oversight alerts about integrations (Prometheus >= 2.42): down, impacted, latency, certificate
    expiry, flapping. Needs alerts/rules/recording.yml (the pattern_integration:* lookups).

    Every alert carries severity, pattern, integration, owner, criticality, runbook, root_cause and
    cause (self: about the integration itself; dependency: the root cause is another integration),
    and the annotations summary, description, runbook_url and dashboard_url. The ladder (which
    severity reaches whom, how fast) is in alerts/README.md and alerts/alertmanager.yml.
"""

# Down, by criticality: (criticality, severity, for). One rule each: `for` cannot be computed.
DOWN_LADDER = (
    ("critical", "page", "1m"),
    ("high", "critical", "2m"),
    ("medium", "warning", "5m"),
    ("low", "info", "10m"),
)

# Internal integrations: per agent. External partners: once, when a quorum of agents see it.
# The agent exports only the current state's series, so the state="down" series exists while
# the integration is down and goes stale (ending the alert) when it leaves that state. A sharded
# prober's agents count as one: their state comes from shards.yml, per location, its two agents
# of a shard agreeing and its shards combined.
DOWN = """
    (
        max without (state) (
            (oversight_integration_state{scope="internal",state="down"} == 1 unless on (agent, location) ${sharded})
          or
            location_integration:oversight_integration_state:shards{scope="internal",state="down"}
        )
      or
          count by (pattern, integration, scope) (
              (oversight_integration_state{scope="external",state="down"} == 1 unless on (agent, location) ${sharded})
            or
              location_integration:oversight_integration_state:shards{scope="external",state="down"}
          )
        >= on (pattern, integration, scope)
          pattern_integration:oversight_agents:quorum
    )
    * on (pattern, integration) group_left (criticality, owner, runbook)
    pattern_integration:oversight_integration_info:topk1{criticality="${criticality}"}
"""

# The impacted state's series names the down dependency in its own root_cause label.
IMPACTED = """
    max without (state) (
        (oversight_integration_state{state="impacted"} == 1 unless on (agent, location) ${sharded})
      or
        location_integration:oversight_integration_state:shards{state="impacted"}
    )
"""

# The last run of a probe slower than its threshold; failed runs do not count.
SLOW = """
    (
        (
            probe_duration_seconds
          > on (agent, pattern, integration, probe) group_left ()
            oversight_probe_latency_threshold_seconds{severity="${severity}"}
        )
      and on (agent, pattern, integration, probe)
        probe_success == 1
    )
"""

CERT_EXPIRING = """
    (
        probe_ssl_earliest_cert_expiry - time()
      < on (agent, pattern, integration, probe) group_left ()
        oversight_probe_cert_expiry_threshold_seconds{severity="${severity}"}
    )
"""

FLAPPING = """
    (
        (oversight_integration_flapping == 1 unless on (agent, location) ${sharded})
      or
        location_integration:oversight_integration_flapping:shards == 1
    )
    * on (pattern, integration) group_left (criticality, owner, runbook, root_cause)
    pattern_integration:oversight_integration_info:root_cause_30m
"""

# Who saw it: the agent, or the sharded prober (its agents have no one name between them).
SEEN_BY = (
    "{{ if $labels.agent }}agent {{ $labels.agent }}{{ else }}its sharded prober"
    "{{ if $labels.location }} in {{ $labels.location }}{{ end }}{{ end }}"
)

# The owner, criticality and runbook of the integration (one series however many agents).
JOIN = """
    * on (pattern, integration) group_left (criticality, owner, runbook)
    pattern_integration:oversight_integration_info:topk1
"""

def build(p: Params) -> RuleFile:
    dashboard = p.integration_dashboard()
    rules = [
        alert(
            "OversightIntegrationDown",
            joined(DOWN, criticality=criticality, sharded=SHARDED_AGENTS),
            for_=for_,
            labels={"severity": severity, **SELF},
            summary="{{ $labels.pattern }}/{{ $labels.integration }} is down",
            description="""
                The {{ $labels.criticality }} {{ $labels.scope }} integration
                {{ $labels.pattern }}/{{ $labels.integration }} (owner {{ $labels.owner }}) is down{{ if $labels.agent }}
                as seen by agent {{ $labels.agent }}{{ else if eq $labels.scope "internal" }} as seen by
                its sharded prober{{ if $labels.location }} in {{ $labels.location }}{{ end }}{{ else }};
                agents that see it down: {{ $value }}{{ end }}.
            """,
            runbook_url="{{ $labels.runbook }}",
            dashboard_url=dashboard,
            comment="" if number else fill(
                """
                Down: `for` and severity follow the integration's criticality (one rule each).
                Internal integrations alert per agent (each sidecar watches its own neighbour); an
                external partner alerts once, when a quorum of the agents watching it sees it down
                (pattern_integration:oversight_agents:quorum: ${quorum}, or all when fewer watch).
                A sharded prober is one agent here, with the state shards.yml combines.
                Value: the number of agents that see it down.
                """,
                quorum=p.quorum,
            ),
        )
        for number, (criticality, severity, for_) in enumerate(DOWN_LADDER)
    ]
    rules.append(
        alert(
            "OversightIntegrationImpacted",
            joined(IMPACTED, JOIN, sharded=SHARDED_AGENTS),
            for_="1m",
            labels={
                "severity": "info",
                "cause": "dependency",
                "root_cause": "{{ $labels.root_cause }}",  # the dependency
            },
            summary="{{ $labels.pattern }}/{{ $labels.integration }} is impacted by {{ $labels.root_cause }}",
            description=fill(
                """
                {{ $labels.pattern }}/{{ $labels.integration }} fails because its dependency
                {{ $labels.root_cause }} is down (${seen_by}). The root cause alerts
                on its own; this one is for the record.
                """,
                seen_by=SEEN_BY,
            ),
            runbook_url="{{ $labels.runbook }}",
            dashboard_url=dashboard,
            comment="""
                Impacted: failing only because a dependency is down. Informational, never pages;
                its root_cause is the dependency (the root_cause label of the impacted state's
                series), so Alertmanager mutes it while the dependency alerts.
            """,
        )
    )
    for severity, for_, summary in (
        ("warning", "5m", "is slow (over its warning latency)"),
        ("critical", "3m", "is very slow (over its critical latency)"),
    ):
        rules.append(
            alert(
                "OversightLatencyHigh",
                joined(SLOW, JOIN, severity=severity),
                for_=for_,
                labels={"severity": severity, **SELF},
                summary="{{ $labels.pattern }}/{{ $labels.integration }} " + summary,
                description=fill(
                    """
                    Probe {{ $labels.probe }} of {{ $labels.pattern }}/{{ $labels.integration }} took
                    {{ $value | humanizeDuration }} (agent {{ $labels.agent }}), over its ${severity}
                    latency threshold for ${minutes} minutes.
                    """,
                    severity=severity,
                    minutes=for_.removesuffix("m"),
                ),
                runbook_url="{{ $labels.runbook }}",
                dashboard_url=dashboard,
                comment="" if severity == "critical" else """
                    Latency of one probe's last run above its warning / critical threshold
                    (oversight_probe_latency_threshold_seconds). Failed runs do not count: their
                    duration is the timeout, and the down alert speaks for them. Value: the run's
                    duration.
                """,
            )
        )
    for severity, for_, summary in (
        ("warning", "30m", "expires soon"),
        ("critical", "10m", "is about to expire"),
    ):
        rules.append(
            alert(
                "OversightCertificateExpiring",
                joined(CERT_EXPIRING, JOIN, severity=severity),
                for_=for_,
                labels={"severity": severity, **SELF},
                summary="The certificate of {{ $labels.pattern }}/{{ $labels.integration }} " + summary,
                description=fill(
                    """
                    The certificate {{ $labels.pattern }}/{{ $labels.integration }} presents to
                    probe {{ $labels.probe }} expires in {{ $value | humanizeDuration }}
                    (agent {{ $labels.agent }}), under its ${severity} threshold.
                    """,
                    severity=severity,
                ),
                runbook_url="{{ $labels.runbook }}",
                dashboard_url=dashboard,
                comment="" if severity == "critical" else """
                    Certificate expiring: time left (probe_ssl_earliest_cert_expiry - time()) under
                    the probe's cert_expiry threshold (oversight_probe_cert_expiry_threshold_seconds).
                    Value: seconds left.
                """,
            )
        )
    rules.append(
        alert(
            "OversightIntegrationFlapping",
            joined(FLAPPING, sharded=SHARDED_AGENTS),
            for_="2m",
            labels={"severity": "warning", **MAYBE_DEPENDENCY},
            summary="{{ $labels.pattern }}/{{ $labels.integration }} is flapping",
            description=fill(
                """
                {{ $labels.pattern }}/{{ $labels.integration }} keeps changing state
                (${seen_by}){{ if $labels.root_cause }}; it was impacted by
                {{ $labels.root_cause }} within the last 30 minutes{{ end }}.
                """,
                seen_by=SEEN_BY,
            ),
            runbook_url="{{ $labels.runbook }}",
            dashboard_url=dashboard,
            comment="""
                Flapping: the agent saw too many state changes within its flapping window. When
                the integration was impacted within the last 30m, the flapping is its dependency's.
            """,
        )
    )
    return RuleFile(
        "integrations.yml",
        "alerts/integrations.py",
        comment(HEADER),
        (Group("oversight.integrations", tuple(rules)),),
    )
