"""Overview tables: every integration with its owner and service levels, and active alerts."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import Query, integration_column_link, panel, runbook_column_link
from dashboards.fields import prop, state_mappings, thresholds_value
from dashboards.promql import budget_left, objective, state_code

SEL = 'agent=~"$agent", pattern=~"$pattern", scope=~"$scope"'
ALERTS = 'alertname=~"Oversight.*", pattern=~"$pattern"'


def integrations() -> Any:
    by = "pattern, integration"
    queries = (
        Query(
            f"max by ({by}, scope, criticality, owner, runbook) "
            f"(oversight_integration_info{{{SEL}}})",
            instant=True,
            table=True,
        ),
        Query(state_code(SEL, by), instant=True, table=True),
        Query(
            f"min by ({by}) (integration:oversight_availability:ratio_rate1h{{{SEL}}})",
            instant=True,
            table=True,
        ),
        Query(
            f"max by ({by}) ({objective(SEL)})",
            instant=True,
            table=True,
        ),
        Query(budget_left(SEL, by), instant=True, table=True),
        Query(
            f"max by ({by}) (integration:probe_duration_seconds:p95_5m{{{SEL}}})",
            instant=True,
            table=True,
        ),
    )
    names = {
        "Value #B": "State",
        "Value #C": "Availability (1h)",
        "Value #D": "Objective",
        "Value #E": "Error budget left (30d)",
        "Value #F": "p95 latency (5m)",
    }
    order = ["pattern", "integration", "scope", "criticality", *names.values(), "owner", "runbook"]
    organize = {
        "excludeByName": {"Time": True, "Value #A": True},
        "renameByName": names,
        "indexByName": {name: i for i, name in enumerate(order)},
    }
    return (
        panel(
            table.Panel(),
            "Integrations",
            "Every integration with its owner, state, availability over the last hour against "
            "its objective, error budget left over 30 days and its slowest probe's p95 latency "
            "over 5 minutes (from the recording rules in alerts/rules). Click a name for its "
            "detail, a runbook to open it.",
            "short",
            *queries,
            w=24,
            h=9,
        )
        .with_transformation(model.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(model.DataTransformerConfig(id_val="organize", options=organize))
        .sort_by([cb.TableSortByFieldState().display_name("State").desc(True)])
        .override_by_name(
            "State",
            [
                prop("mappings", state_mappings()),
                prop("custom.cellOptions", {"type": "color-text"}),
            ],
        )
        .with_override(
            model.MatcherConfig(id_val="byRegexp", options="Availability.*|Objective"),
            [prop("unit", "percentunit"), prop("decimals", 2)],
        )
        .override_by_name(
            "Error budget left (30d)",
            [
                prop("unit", "percentunit"),
                prop("decimals", 1),
                prop("thresholds", thresholds_value("red", (0, "orange"), (0.25, "green"))),
                prop("custom.cellOptions", {"type": "color-text"}),
            ],
        )
        .override_by_name("p95 latency (5m)", [prop("unit", "s")])
        .override_by_name("integration", integration_column_link())
        .override_by_name("runbook", runbook_column_link())
    )


def alerts() -> Any:
    labels = "alertname, alertstate, severity, pattern, integration, owner, root_cause, runbook"
    return (
        panel(
            table.Panel(),
            "Active alerts",
            "Oversight alerts firing or pending in Prometheus, with owner and root cause; "
            "a single 'none' row when there are none.",
            "short",
            Query(
                f'max by ({labels}) (ALERTS{{{ALERTS}, alertstate=~"firing|pending"}})\n'
                'or on () label_replace(vector(0), "alertname", "none", "", "")',
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
                    "indexByName": {n: i for i, n in enumerate(labels.split(", "))},
                },
            )
        )
        .override_by_name("runbook", runbook_column_link())
    )
