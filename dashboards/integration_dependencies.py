"""Integration detail, dependencies: the root cause while impacted, and each dependency's state."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import Query, data_link, integration_url, panel, stat_panel
from dashboards.fields import prop, state_mappings, thresholds, value_text
from dashboards.promql import SHARDS_STATE, state_code

AGENTS = 'agent=~"$agent"'
SEL = f'{AGENTS}, pattern="$pattern", integration="$integration"'
IMPACTED = f'{SEL}, state="impacted"'
# The value of the single row of an integration without dependencies (no state code uses it).
NO_DEPENDENCY = -1


def dependency_states(selector: str, agents: str) -> str:
    """PromQL: one series per direct dependency of the integrations ``selector`` picks, labelled
    with the dependency's own pattern and integration and valued its state code (worst over
    ``agents``); a single ``integration="none"`` series valued NO_DEPENDENCY when there is none.

    The join is one-to-one on (pattern, integration): both sides are reduced to those labels
    first, so several agents (or agents disagreeing about a state) never make it many-to-many.
    """
    dependencies = (
        "label_replace(label_replace(\n"
        f"    max by (dependency) (oversight_integration_depends_on{{{selector}}}),\n"
        '    "pattern", "$1", "dependency", "(.*)/.*"),\n'
        '  "integration", "$1", "dependency", ".*/(.*)")'
    )
    return (
        f"max by (pattern, integration) (\n  {dependencies}\n)\n"
        f"* on (pattern, integration)\n{state_code(agents, 'pattern, integration')}\n"
        f'or on () label_replace(vector({NO_DEPENDENCY}), "integration", "none", "", "")'
    )


def root_cause() -> Any:
    return (
        stat_panel(
            "Root cause",
            "While the integration is impacted (down because a dependency is down), the down "
            "dependency the agent (or a sharded prober, alerts/rules/shards.yml) blames, at any "
            "time in the dashboard's range; 'none' when it was not impacted. The link opens the "
            "root cause.",
            "none",
            Query(
                "max by (root_cause, root_pattern, root_integration) (label_replace(label_replace("
                f"\n  max_over_time(oversight_integration_state{{{IMPACTED}}}[$__range])"
                f"\n  or max_over_time({SHARDS_STATE}{{{IMPACTED}}}[$__range]),"
                '\n  "root_pattern", "$1", "root_cause", "(.*)/.*"),'
                ' "root_integration", "$1", "root_cause", ".*/(.*)"))'
                '\nor on () label_replace(vector(0), "root_cause", "none", "", "")',
                "{{root_cause}}",
                instant=True,
            ),
            w=8,
            h=5,
        )
        .text_mode(cm.BigValueTextMode.NAME)
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .thresholds(thresholds("green", (1, "purple")))
        .data_links(
            [
                data_link(
                    "Root cause detail",
                    integration_url(
                        "${__field.labels.root_pattern}", "${__field.labels.root_integration}"
                    ),
                )
            ]
        )
    )


def dependencies() -> Any:
    organize = {
        "excludeByName": {"Time": True},
        "renameByName": {"Value": "State"},
        "indexByName": {"pattern": 0, "integration": 1, "State": 2},
    }
    none = value_text((str(NO_DEPENDENCY), "-", "text"))
    return (
        panel(
            table.Panel(),
            "Dependencies",
            "The integrations this one depends on directly (depends_on), each with its state "
            "now, worst first; a single 'none' row when it has no dependencies. Click a name "
            "for that dependency's own detail.",
            "none",
            Query(dependency_states(SEL, AGENTS), instant=True, table=True),
            w=8,
            h=8,
        )
        .with_transformation(model.DataTransformerConfig(id_val="organize", options=organize))
        .sort_by([cb.TableSortByFieldState().display_name("State").desc(True)])
        .override_by_name(
            "State",
            [
                prop("mappings", state_mappings() + none),
                prop("custom.cellOptions", {"type": "color-text"}),
            ],
        )
        .override_by_name(
            "integration",
            [
                prop(
                    "links",
                    [
                        {
                            "title": "Dependency detail",
                            "url": integration_url("${__data.fields.pattern}", "${__value.raw}"),
                        }
                    ],
                )
            ],
        )
    )
