"""Overview: every pattern and integration, external and internal, on one screen."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import statetimeline, timeseries
from grafana_foundation_sdk.models import common as cm

from dashboards import capacity, compliance
from dashboards import overview_tables as tables
from dashboards.common import (
    UIDS,
    Query,
    agent_variable,
    bar_gauge,
    data_link,
    datasource_variable,
    finish,
    integration_url,
    label_variable,
    new_dashboard,
    panel,
    stat_panel,
    with_sections,
)
from dashboards.fields import prop, state_mappings, thresholds, thresholds_value
from dashboards.promql import STATE_COLORS, budget_left, state_code, state_series

SEL = 'agent=~"$agent", pattern=~"$pattern", scope=~"$scope"'
ALERTS = 'alertname=~"Oversight.*", pattern=~"$pattern"'


def _now() -> list[Any]:
    counts = (
        stat_panel(
            "Integrations by state",
            "How many integrations are in each state now. An integration that two agents see "
            "differently counts in both states; a sharded prober is one agent (its shards "
            "combined, alerts/rules/shards.yml).",
            "short",
            Query(
                f"sum by (state) (max by (pattern, integration, state) ({state_series(SEL)}))",
                "{{state}}",
                instant=True,
            ),
            w=12,
            h=5,
        )
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .color_mode(cm.BigValueColorMode.VALUE)
        .thresholds(thresholds("text"))
    )
    for state in ("degraded", "impacted", "down", "unknown"):
        counts = counts.override_by_name(
            state, [prop("thresholds", thresholds_value("text", (1, STATE_COLORS[state])))]
        )
    counts = counts.override_by_name(
        "ok", [prop("color", {"mode": "fixed", "fixedColor": STATE_COLORS["ok"]})]
    )
    alerts = (
        stat_panel(
            "Oversight alerts",
            "Oversight alerts firing and pending in Prometheus (from alerts/rules), for the "
            "selected patterns; 0 when none.",
            "short",
            Query(
                f'count(ALERTS{{{ALERTS}, alertstate="firing"}}) or vector(0)',
                "firing",
                instant=True,
            ),
            Query(
                f'count(ALERTS{{{ALERTS}, alertstate="pending"}}) or vector(0)',
                "pending",
                instant=True,
            ),
            w=4,
            h=5,
        )
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .thresholds(thresholds("green", (1, "red")))
        .override_by_name("pending", [prop("thresholds", thresholds_value("green", (1, "orange")))])
    )
    flapping = stat_panel(
        "Flapping",
        "Integrations that change state too often within their flapping window.",
        "short",
        Query(
            f"sum(max by (pattern, integration) (oversight_integration_flapping{{{SEL}}}))",
            "flapping",
            instant=True,
        ),
        w=4,
        h=5,
    ).thresholds(thresholds("green", (1, "orange")))
    agents = (
        stat_panel(
            "Agents ready",
            "Agents reporting (every agent exports oversight_agent_ready) and how many are "
            "ready: config loaded and every probe run once. Details on the Agent dashboard.",
            "short",
            Query('sum(oversight_agent_ready{agent=~"$agent"})', "ready", instant=True),
            Query('count(oversight_agent_ready{agent=~"$agent"})', "reporting", instant=True),
            w=4,
            h=5,
        )
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .thresholds(thresholds("blue"))
        .links([data_link("Agent dashboard", f"/d/{UIDS['agent']}/agent?${{__url_time_range}}")])
    )
    return [counts, alerts, flapping, agents]


def _matrix() -> Any:
    return (
        panel(
            statetimeline.Panel(),
            "Health matrix",
            "The state of every integration over time, worst first when agents disagree: ok, "
            "degraded (a warning or critical threshold crossed), impacted (down because a "
            "dependency is down), down, unknown (no recent result). Click a row for its detail.",
            "none",
            Query(state_code(SEL), "{{pattern}} / {{integration}} ({{scope}})"),
            w=24,
            h=10,
        )
        .mappings(state_mappings())
        .show_value(cm.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.8)
        .fill_opacity(80)
        .legend(cb.VizLegendOptions().show_legend(True).placement(cm.LegendPlacement.BOTTOM))
        .data_links(
            [
                data_link(
                    "Integration detail",
                    integration_url("${__field.labels.pattern}", "${__field.labels.integration}"),
                )
            ]
        )
    )


def _service_levels() -> list[Any]:
    budget = (
        bar_gauge(
            "Error budget left (30 days)",
            "Share of each integration's availability error budget (1 - objective) left after "
            "the failed probe runs of the last 30 days; below 0 the objective is missed.",
            "percentunit",
            Query(budget_left(SEL), "{{pattern}} / {{integration}}", instant=True),
            w=12,
            h=9,
        )
        .max(1)
        .thresholds(thresholds("red", (0, "orange"), (0.25, "green")))
    )
    burn = (
        panel(
            timeseries.Panel(),
            "Error budget burn rate (1h)",
            "How fast each integration spends its error budget, over the last hour (recording "
            "rule integration:oversight_error_budget:burn_rate1h): 1 spends it exactly over 30 "
            "days; the lines at 6 and 14.4 are where the burn-rate alerts start.",
            "x",
            Query(
                f"max by (pattern, integration) "
                f"(integration:oversight_error_budget:burn_rate1h{{{SEL}}})",
                "{{pattern}} / {{integration}}",
            ),
            w=12,
            h=9,
        )
        .thresholds(thresholds("transparent", (6, "orange"), (14.4, "red")))
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED))
        .axis_soft_min(0)
    )
    return [budget, burn]


def _latency() -> list[Any]:
    worst = bar_gauge(
        "Worst latencies (p95, 5m)",
        "The ten integrations with the highest 95th percentile probe duration over the last "
        "5 minutes, their slowest probe's (recording rule "
        "integration:probe_duration_seconds:p95_5m, over the last-run durations the scrapes "
        "saw).",
        "s",
        Query(
            f"topk(10, max by (pattern, integration) "
            f"(integration:probe_duration_seconds:p95_5m{{{SEL}}}))",
            "{{pattern}} / {{integration}}",
            instant=True,
        ),
        w=12,
        h=9,
    ).thresholds(thresholds("blue"))
    against = (
        bar_gauge(
            "Latency against its threshold",
            "The ten slowest probes' last run as a share of the warning latency threshold the "
            "agent was configured with (oversight_probe_latency_threshold_seconds): over 100% "
            "is degraded.",
            "percentunit",
            Query(
                f"topk(10, max by (pattern, integration, probe) (probe_duration_seconds{{{SEL}}}"
                f"\n  / on (agent, pattern, integration, probe) group_left ()"
                f'\n  oversight_probe_latency_threshold_seconds{{{SEL}, severity="warning"}}))',
                "{{pattern}} / {{integration}} / {{probe}}",
                instant=True,
            ),
            w=12,
            h=9,
        )
        .max(1.5)
        .thresholds(thresholds("green", (0.8, "yellow"), (1, "orange")))
    )
    return [worst, against]


def build() -> dict[str, Any]:
    dashboard = (
        new_dashboard(
            "overview",
            "Oversight / Overview",
            "Unified oversight of every pattern and integration: health, service levels, "
            "latency and alerts.",
        )
        .with_variable(datasource_variable())
        .with_variable(agent_variable())
        .with_variable(
            label_variable(
                "pattern",
                "label_values(oversight_integration_info, pattern)",
                "Integration patterns: bill_pay, account, client, ...",
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
    )
    sections = (
        ("Now", _now()),
        ("Health", [_matrix(), tables.integrations()]),
        ("Service levels", _service_levels()),
        ("Latency", _latency()),
        ("Compliance", compliance.overview_panels(SEL)),
        ("Capacity and expiry", capacity.overview()),
        ("Alerts", [tables.alerts()]),
    )
    return finish(with_sections(dashboard, sections))
