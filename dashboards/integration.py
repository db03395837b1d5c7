"""Integration detail: one integration's state, dependencies, success, latency, HTTP and TLS."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import statetimeline, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as model

from dashboards import capacity, compliance
from dashboards import integration_dependencies as dependencies
from dashboards import integration_signals as signals
from dashboards.common import (
    Query,
    agent_variable,
    data_link,
    datasource_variable,
    finish,
    label_variable,
    new_dashboard,
    panel,
    stat_panel,
    with_sections,
)
from dashboards.fields import (
    DASHED,
    fixed_color,
    prop,
    state_mappings,
    thresholds,
)
from dashboards.promql import budget_left, counted, objective, state_code

SEL = 'agent=~"$agent", pattern="$pattern", integration="$integration"'
PROBES = f'{SEL}, probe=~"$probe"'
RATE = "$__rate_interval"


def _now() -> list[Any]:
    state = stat_panel(
        "State",
        "The integration's state now (the worst when agents disagree).",
        "none",
        Query(state_code(SEL, "pattern, integration"), "state", instant=True),
        w=4,
        h=4,
    ).mappings(state_mappings())
    since = stat_panel(
        "In this state for",
        "Time since the integration entered its current state.",
        "s",
        Query(
            f"time() - max(oversight_integration_state_since_timestamp_seconds{{{SEL}}})",
            "since",
            instant=True,
        ),
        w=4,
        h=4,
    ).thresholds(thresholds("blue"))
    availability = (
        stat_panel(
            "Availability (1h) / objective",
            "Share of successful probe runs over the last hour (recording rule "
            "integration:oversight_availability:ratio_rate1h), and the availability objective.",
            "percentunit",
            Query(
                f"min(integration:oversight_availability:ratio_rate1h{{{SEL}}})", "1h", instant=True
            ),
            Query(
                f"max({objective(SEL)})",
                "objective",
                instant=True,
            ),
            w=5,
            h=4,
        )
        .decimals(2)
        .thresholds(thresholds("blue"))
    )
    budget = (
        stat_panel(
            "Error budget left (30d)",
            "Share of the availability error budget (1 - objective) left after the failed "
            "probe runs of the last 30 days; below 0 the objective is missed.",
            "percentunit",
            Query(budget_left(SEL), "budget left", instant=True),
            w=5,
            h=4,
        )
        .decimals(1)
        .thresholds(thresholds("red", (0, "orange"), (0.25, "green")))
    )
    owner = (
        stat_panel(
            "Owner",
            "Who owns the integration, its criticality and scope. The link opens its runbook.",
            "none",
            Query(
                f"max by (owner, criticality, scope, runbook) "
                f"(oversight_integration_info{{{SEL}}})",
                "{{owner}} · {{criticality}} · {{scope}}",
                instant=True,
            ),
            w=6,
            h=4,
        )
        .text_mode(cm.BigValueTextMode.NAME)
        .color_mode(cm.BigValueColorMode.NONE)
        .data_links([data_link("Runbook", "${__field.labels.runbook}", new_tab=True)])
    )
    return [state, since, availability, budget, owner]


def _health() -> list[Any]:
    timeline = (
        panel(
            statetimeline.Panel(),
            "State over time",
            "The integration's state over time: every change is an edge. impacted means down "
            "because a dependency is down.",
            "none",
            Query(state_code(SEL, "pattern, integration"), "state"),
            w=10,
            h=5,
        )
        .mappings(state_mappings())
        .show_value(cm.VisibilityMode.AUTO)
        .merge_values(True)
        .fill_opacity(80)
        .legend(cb.VizLegendOptions().show_legend(False))
    )
    changes = (
        panel(
            timeseries.Panel(),
            "State changes",
            "State changes as the scrapes saw them (each change moves "
            "oversight_integration_state_since_timestamp_seconds; several between two scrapes "
            "count once), and whether the agent marks the integration as flapping.",
            "short",
            Query(
                "sum(changes(oversight_integration_state_since_timestamp_seconds"
                f"{{{SEL}}}[$__rate_interval]))",
                "changes",
            ),
            Query(f"max(oversight_integration_flapping{{{SEL}}})", "flapping"),
            w=6,
            h=5,
        )
        .draw_style(cm.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .axis_soft_min(0)
        .override_by_name("flapping", [fixed_color("orange"), prop("custom.drawStyle", "line")])
    )
    success = (
        panel(
            timeseries.Panel(),
            "Success ratio",
            "Share of successful runs of each probe (1 - failed / all runs), the integration's "
            "5-minute availability (recording rule) and its objective (dashed).",
            "percentunit",
            Query(
                f"1 - (\n    {counted('oversight_probe_failures_total', PROBES, 'probe', RATE)}"
                f"\n  or 0 * {counted('oversight_probe_runs_total', PROBES, 'probe', RATE)}\n)"
                f"\n/ {counted('oversight_probe_runs_total', PROBES, 'probe', RATE)}",
                "{{probe}}",
            ),
            Query(
                f"min(integration:oversight_availability:ratio_rate5m{{{SEL}}})",
                "availability (5m)",
            ),
            Query(
                f"max({objective(SEL)})",
                "objective",
            ),
            w=8,
            h=8,
        )
        .min(0)
        .max(1)
        .override_by_name("objective", [DASHED, fixed_color("red")])
    )
    failures = (
        panel(
            timeseries.Panel(),
            "Failed runs by reason",
            "Failed runs per reason (timeout, connect_refused, status_mismatch, ...); a flat "
            "'none' line while the integration has never failed.",
            "short",
            Query(
                f"sum by (probe, reason) "
                f"(increase(oversight_probe_failures_total{{{PROBES}}}[$__rate_interval]))\n"
                'or on () label_replace(vector(0), "reason", "none", "", "")',
                "{{reason}} {{probe}}",
            ),
            w=8,
            h=8,
        )
        .draw_style(cm.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .axis_soft_min(0)
    )
    # Root cause above the dependencies it names, in the right-hand column.
    return [
        timeline,
        changes,
        dependencies.root_cause(),
        success,
        failures,
        dependencies.dependencies(),
    ]


def build() -> dict[str, Any]:
    dashboard = (
        new_dashboard(
            "integration",
            "Oversight / Integration",
            "One integration in detail: state, success, latency by phase against its "
            "thresholds, HTTP status, certificate and TLS, and what its probes check.",
        )
        .with_variable(datasource_variable())
        .with_variable(agent_variable())
        .with_variable(
            label_variable(
                "pattern",
                "label_values(oversight_integration_info, pattern)",
                "The integration's pattern.",
            )
        )
        .with_variable(
            label_variable(
                "integration",
                'label_values(oversight_integration_info{pattern="$pattern"}, integration)',
                "The integration.",
            )
        )
        .with_variable(
            label_variable(
                "probe",
                "label_values(oversight_probe_info"
                '{pattern="$pattern", integration="$integration"}, probe)',
                "The integration's probes.",
                multi=True,
            )
        )
        .with_variable(
            label_variable(
                "runbook",
                'label_values(oversight_integration_info{pattern="$pattern", '
                'integration="$integration"}, runbook)',
                "The integration's runbook (for the dashboard link).",
                hidden=True,
            )
        )
        .link(
            db.DashboardLink("Runbook")
            .type(model.DashboardLinkType.LINK)
            .url("${runbook}")
            .icon("doc")
            .target_blank(True)
            .tooltip("The integration's runbook")
        )
    )
    sections: list[tuple[str, list[Any]]] = [
        ("Now", _now()),
        ("Health", _health()),
        ("Latency", signals.latency()),
        ("HTTP and TLS", signals.http_tls()),
        ("Capacity", capacity.integration()),
        ("Compliance", compliance.integration_panels(SEL)),
        ("Probes", [signals.probes()]),
    ]
    return finish(with_sections(dashboard, sections))
