"""Compliance: the same policies checked everywhere — results, failures, scores, audit trail."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import (
    UIDS,
    Query,
    agent_variable,
    bar_gauge,
    data_link,
    datasource_variable,
    finish,
    integration_column_link,
    label_variable,
    new_dashboard,
    panel,
    runbook_column_link,
    stat_panel,
    with_sections,
)
from dashboards.fields import code_mappings, prop, thresholds, thresholds_value
from dashboards.promql import COMPLIANCE_CODES

AGENT = 'agent=~"$agent"'
PATTERNS = f'{AGENT}, pattern=~"$pattern"'
CHECKS = f'{PATTERNS}, scope=~"$scope", policy=~"$policy"'
FAILING = "oversight_compliance_failing"  # one series per failing check, none while it passes
COMPLIANCE_URL = f"/d/{UIDS['compliance']}/compliance?${{__url_time_range}}"
SCORE = thresholds("red", (0.9, "orange"), (1, "green"))


def overview_panels(selector: str) -> list[Any]:
    """Compliance on the Overview: score per pattern and failing checks per policy."""
    score = (
        bar_gauge(
            "Compliance score",
            "Share of each pattern's applicable compliance checks that pass (TLS version, "
            "certificate days, HTTPS, security headers, authentication, sensitive data, API "
            "contract, latency SLA, availability SLO). Details on the Compliance dashboard.",
            "percentunit",
            Query(
                "min by (pattern) (oversight_compliance_score_ratio"
                '{agent=~"$agent", pattern=~"$pattern"})',
                "{{pattern}}",
                instant=True,
            ),
            w=12,
            h=6,
        )
        .max(1)
        .thresholds(SCORE)
        .links([data_link("Compliance dashboard", COMPLIANCE_URL)])
    )
    failing = (
        bar_gauge(
            "Failing checks by policy",
            "How many integrations fail each policy now; a single 'none failing' bar when "
            "every check passes.",
            "short",
            Query(
                "sum by (policy) (max by (pattern, integration, policy) "
                f"({FAILING}{{{selector}}}))\n"
                'or on () label_replace(vector(0), "policy", "none failing", "", "")',
                "{{policy}}",
                instant=True,
            ),
            w=12,
            h=6,
        )
        .thresholds(thresholds("green", (1, "red")))
        .decimals(0)
    )
    return [score, failing]


def integration_panels(selector: str) -> list[Any]:
    """Compliance on the Integration dashboard: the policies the integration fails."""
    return [
        stat_panel(
            "Failing policies",
            "The compliance policies the integration fails now (as any agent sees it); a "
            "single 'none failing' when it fails none. The agent exports only failing checks "
            "per integration: how many pass or do not apply, per pattern, and the scores and "
            "audit trail are on the Compliance dashboard.",
            "none",
            Query(
                f"max by (policy) ({FAILING}{{{selector}}})\n"
                'or on () label_replace(vector(0), "policy", "none failing", "", "")',
                "{{policy}}",
                instant=True,
            ),
            w=24,
            h=4,
        )
        .mappings(code_mappings(COMPLIANCE_CODES))
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .links([data_link("Compliance dashboard", f"{COMPLIANCE_URL}&var-pattern=${{pattern}}")])
    ]


def _now() -> list[Any]:
    overall = stat_panel(
        "Overall score",
        "Share of all applicable compliance checks that pass, the lowest of the agents'.",
        "percentunit",
        Query(f"min(oversight_compliance_overall_score_ratio{{{AGENT}}})", "overall", instant=True),
        w=4,
        h=5,
    ).thresholds(SCORE)
    patterns = (
        stat_panel(
            "Score by pattern",
            "Share of each pattern's applicable checks that pass: the same standard everywhere.",
            "percentunit",
            Query(
                f"min by (pattern) (oversight_compliance_score_ratio{{{PATTERNS}}})",
                "{{pattern}}",
                instant=True,
            ),
            w=10,
            h=5,
        )
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .thresholds(SCORE)
    )
    checks = (
        stat_panel(
            "Checks",
            "Checks by result across the selected patterns; not_applicable: the policy does not "
            "apply to the integration (e.g. HTTPS for an internal plain-HTTP service).",
            "short",
            Query(
                "sum by (status) (max by (pattern, status) "
                f"(oversight_compliance_checks{{{PATTERNS}}}))",
                "{{status}}",
                instant=True,
            ),
            w=10,
            h=5,
        )
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .thresholds(thresholds("text"))
        .override_by_name(
            "fail",
            [
                prop(
                    "thresholds",
                    {
                        "mode": "absolute",
                        "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}],
                    },
                )
            ],
        )
        .override_by_name("pass", [prop("color", {"mode": "fixed", "fixedColor": "green"})])
    )
    return [overall, patterns, checks]


def _by_pattern() -> Any:
    return (
        panel(
            table.Panel(),
            "Checks by pattern",
            "Each pattern's checks (an integration against a policy) by result: pass, fail, "
            "not_applicable (the policy does not apply to the integration), and the score. "
            "Which integration fails which policy is in Failing checks below.",
            "none",
            Query(
                f"max by (pattern, status) (oversight_compliance_checks{{{PATTERNS}}})",
                instant=True,
                table=True,
            ),
            w=24,
            h=6,
        )
        .with_transformation(
            model.DataTransformerConfig(
                id_val="groupingToMatrix",
                options={"columnField": "status", "rowField": "pattern", "valueField": "Value"},
            )
        )
        .override_by_name(
            "fail",
            [
                prop("thresholds", thresholds_value("green", (1, "red"))),
                prop("custom.cellOptions", {"type": "color-text"}),
            ],
        )
    )


def _failing() -> Any:
    labels = "pattern, integration, scope, policy"
    return (
        panel(
            table.Panel(),
            "Failing checks",
            "Checks failing now, with the integration's owner and runbook; a single 'none "
            "failing' row when every check passes. The agent does not export the reason of a "
            "failure: `oversight report` and /api/v1/status give it.",
            "none",
            Query(
                f"max by ({labels}) ({FAILING}{{{CHECKS}}} == 1)\n"
                "  * on (pattern, integration) group_left (owner, runbook)\n"
                "  max by (pattern, integration, owner, runbook) "
                f"(oversight_integration_info{{{PATTERNS}}})\n"
                'or on () label_replace(vector(0), "policy", "none failing", "", "")',
                instant=True,
                table=True,
            ),
            w=24,
            h=8,
        )
        .with_transformation(
            model.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True, "Value": True},
                    "indexByName": {"policy": 0, "pattern": 1, "integration": 2, "scope": 3},
                },
            )
        )
        .override_by_name("integration", integration_column_link())
        .override_by_name("runbook", runbook_column_link())
    )


def _over_time() -> list[Any]:
    score = (
        panel(
            timeseries.Panel(),
            "Score over time",
            "Compliance score of each pattern and overall: a drop is a check that started failing "
            "(a certificate near expiry, a missing header, an endpoint that stopped asking for "
            "credentials).",
            "percentunit",
            Query(
                f"min by (pattern) (oversight_compliance_score_ratio{{{PATTERNS}}})", "{{pattern}}"
            ),
            Query(f"min(oversight_compliance_overall_score_ratio{{{AGENT}}})", "overall"),
            w=12,
            h=8,
        )
        .min(0)
        .max(1)
    )
    events = panel(
        timeseries.Panel(),
        "Audit events by type",
        "Events the agent appends to its tamper-evident audit log, per minute by type: config "
        "loaded, state changes, certificate changes, compliance changes, security events.",
        "opm",
        Query(
            f"60 * sum by (type) (rate(oversight_audit_events_total{{{AGENT}}}[$__rate_interval]))",
            "{{type}}",
        ),
        w=12,
        h=8,
    ).axis_soft_min(0)
    return [score, events]


def build() -> dict[str, Any]:
    dashboard = (
        new_dashboard(
            "compliance",
            "Oversight / Compliance",
            "One compliance standard for every pattern: policy results, failing checks, scores "
            "over time and the audit trail.",
        )
        .with_variable(datasource_variable())
        .with_variable(agent_variable())
        .with_variable(
            label_variable(
                "pattern",
                "label_values(oversight_compliance_checks, pattern)",
                "Integration patterns.",
                multi=True,
            )
        )
        .with_variable(
            label_variable(
                "scope",
                'label_values(oversight_integration_info{pattern=~"$pattern"}, scope)',
                "external partners or internal services",
                multi=True,
            )
        )
        .with_variable(
            label_variable(
                "policy",
                f"label_values({FAILING}, policy)",
                "Compliance policies failing somewhere now (a policy every integration passes "
                "has no series to list).",
                multi=True,
            )
        )
    )
    sections = (
        ("Now", _now()),
        ("Checks", [_by_pattern(), _failing()]),
        ("Over time", _over_time()),
    )
    return finish(with_sections(dashboard, sections))
