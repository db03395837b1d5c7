"""alerts/rules/compliance.yml: failing policies, a low score, an audit trail not written."""

from __future__ import annotations

from alerts.common import SELF, Group, RuleFile, about_the_agent, alert, comment, joined
from alerts.params import Params

HEADER = """
    Oversight compliance and audit alerts (Prometheus >= 2.42).

    Load this file beside alerts/rules/*.yml. It stands alone: the owner, criticality and runbook
    are joined from oversight_integration_info here, with the same one-series-per-integration
    lookup as pattern_integration:oversight_integration_info:topk1 in rules/recording.yml.
    Unit tests: promtool test rules alerts/tests/compliance_test.yml

    Severities follow the ladder in alerts/README.md: a failing security policy (authentication
    not enforced, sensitive data in a response, TLS below policy) reaches the owning team's urgent
    channel; other failing policies and a low score are tickets; an audit trail that cannot be
    written goes to whoever runs the agents.
"""

# The policies whose failure is a security matter, as a regular expression.
SECURITY = "auth_required|no_sensitive_data|tls_min_version"

# Policies (matching ${match} SECURITY) failing on an integration, as any agent sees them. The
# agent exports a check's series only while it fails: it goes stale, ending the alert, when the
# check passes again or stops applying.
FAILING = """
    max by (pattern, integration, scope, policy) (
      oversight_compliance_failing{policy${match}"${policies}"} == 1
    )
"""

# The owner, criticality and runbook: one info series per integration, however many agents.
JOIN = """
    * on (pattern, integration) group_left (criticality, owner, runbook)
    topk by (pattern, integration) (1,
      max by (pattern, integration, scope, criticality, owner, runbook) (oversight_integration_info)
    )
"""


def build(p: Params) -> RuleFile:
    dashboard = p.integration_dashboard()
    rules = (
        alert(
            "OversightSecurityPolicyFailing",
            joined(FAILING, JOIN, match="=~", policies=SECURITY),
            for_="5m",
            labels={"severity": "critical", **SELF},
            summary="{{ $labels.pattern }}/{{ $labels.integration }} fails security policy {{ $labels.policy }}",
            description="""
                {{ $labels.pattern }}/{{ $labels.integration }} has failed the {{ $labels.policy }}
                policy for 5 minutes (auth_required: it answers without credentials;
                no_sensitive_data: its responses carry card numbers or other sensitive data;
                tls_min_version: it negotiates an old TLS version). The reason and the evidence,
                masked, are in the agent's /api/v1/compliance and in `oversight report`; the
                audit trail has the security event.
            """,
            runbook_url="{{ $labels.runbook }}",
            dashboard_url=dashboard,
            comment="""
                A security policy failing on an integration, seen by any agent, for 5 minutes.
                One alert per (integration, policy), whatever the number of agents. Value: 1.
            """,
        ),
        alert(
            "OversightCompliancePolicyFailing",
            joined(FAILING, JOIN, match="!~", policies=SECURITY),
            for_="30m",
            labels={"severity": "info", **SELF},
            summary="{{ $labels.pattern }}/{{ $labels.integration }} fails compliance policy {{ $labels.policy }}",
            description="""
                {{ $labels.pattern }}/{{ $labels.integration }} has failed the {{ $labels.policy }}
                policy for 30 minutes. `oversight report` says why and what to do.
            """,
            runbook_url="{{ $labels.runbook }}",
            dashboard_url=dashboard,
            comment="""
                Any other policy failing for 30 minutes: a ticket for the owner (the SLO and
                certificate alerts speak for outages and expiry in their own time). Value: 1.
            """,
        ),
        alert(
            "OversightComplianceScoreLow",
            "min by (pattern) (oversight_compliance_score_ratio) < 0.9",
            for_="1h",
            labels={
                "severity": "info",
                "integration": "all",
                "owner": p.compliance_owner,
                "cause": "self",
                "root_cause": "{{ $labels.pattern }}",
            },
            summary="Compliance score of {{ $labels.pattern }} is {{ $value | humanizePercentage }}",
            description="""
                Only {{ $value | humanizePercentage }} of the applicable compliance checks of
                pattern {{ $labels.pattern }} pass (goal: 90%) for an hour.
                `oversight report --format html` lists the failing ones with what to do.
            """,
            runbook_url=p.runbook("compliance-score"),
            dashboard_url=p.integration_dashboard(integration=False),
            comment="""
                A pattern's compliance score (passed / applicable checks) under 90% for an hour,
                as the lowest any agent reports. Value: the score.
            """,
        ),
        alert(
            "OversightAuditWriteFailing",
            "increase(oversight_audit_write_failures_total[5m]) > 0",
            for_="5m",
            labels=about_the_agent(p.agent_owner, "critical"),
            summary="Oversight agent {{ $labels.agent }} cannot write its audit trail",
            description="""
                Agent {{ $labels.agent }} failed {{ $value | humanize }} audit log writes in the
                last 5 minutes and keeps failing; it goes on probing and retries, holding the
                events in memory (a bounded queue: the oldest are dropped when it is full, and
                the log says how many). Free space or fix the volume of the audit path.
            """,
            runbook_url=p.runbook("audit-write-failing"),
            dashboard_url=p.agent_dashboard,
            comment="""
                The audit trail cannot be written (a full disk, a lost volume): events stay queued
                in memory and are retried, but the trail is at risk. Value: failed writes in 5
                minutes.
            """,
        ),
    )
    return RuleFile(
        "compliance.yml",
        "alerts/compliance.py",
        comment(HEADER),
        (Group("oversight.compliance", rules),),
    )
