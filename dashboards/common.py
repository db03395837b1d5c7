"""What every dashboard shares: the datasource variable, queries, variables, links and layout.

Every panel and every query points at ``${datasource}``, so one set of dashboards serves any
Prometheus (or Thanos, Mimir) the user picks. Panels get their id here, in order, so ids are
stable between builds; the uids below are the dashboards' addresses and never change (alert
rules link to them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import bargauge, prometheus, stat
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from dashboards.fields import last_value, prop

UIDS = {
    "overview": "oversight-overview",
    "integration": "oversight-integration",
    "agent": "oversight-agent",
    "compliance": "oversight-compliance",
}
TAG = "oversight"
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
REFRESH = "30s"


@dataclass(frozen=True, slots=True)
class Query:
    """One PromQL target. ``instant`` for stats, bar gauges and tables; ``table`` returns labels
    as columns (for table panels)."""

    expr: str
    legend: str = "__auto"
    instant: bool = False
    table: bool = False

    def build(self, ref_id: str) -> prometheus.Dataquery:
        query = (
            prometheus.Dataquery()
            .expr(self.expr)
            .legend_format(self.legend)
            .ref_id(ref_id)
            .datasource(DATASOURCE)
        )
        query = query.instant() if self.instant else query.range()
        if self.table:
            query = query.format(PromQueryFormat.TABLE)
        return query


class PanelBuilder(Protocol):
    """The part of every foundation-SDK panel builder that ``panel`` sets."""

    def title(self, title: str) -> Self: ...
    def description(self, description: str) -> Self: ...
    def unit(self, unit: str) -> Self: ...
    def datasource(self, datasource: model.DataSourceRef) -> Self: ...
    def targets(self, targets: list[Builder[Any]]) -> Self: ...
    def span(self, w: int) -> Self: ...
    def height(self, h: int) -> Self: ...


P = TypeVar("P", bound=PanelBuilder)


def panel(
    builder: P, title: str, description: str, unit: str, *queries: Query, w: int, h: int
) -> P:
    """Title, description, unit, size and targets (refIds A, B, ...) on ``${datasource}``."""
    targets: list[Builder[Any]] = [q.build(chr(ord("A") + i)) for i, q in enumerate(queries)]
    return (
        builder.title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .targets(targets)
        .span(w)
        .height(h)
    )


def stat_panel(
    title: str, description: str, unit: str, *queries: Query, w: int, h: int
) -> stat.Panel:
    """A stat of each series' last value, without sparkline."""
    return (
        panel(stat.Panel(), title, description, unit, *queries, w=w, h=h)
        .reduce_options(last_value())
        .graph_mode(cm.BigValueGraphMode.NONE)
    )


def bar_gauge(
    title: str, description: str, unit: str, *queries: Query, w: int, h: int
) -> bargauge.Panel:
    """Horizontal bars, one per series, of its last value."""
    return (
        panel(bargauge.Panel(), title, description, unit, *queries, w=w, h=h)
        .reduce_options(last_value())
        .display_mode(cm.BarGaugeDisplayMode.BASIC)
        .orientation(cm.VizOrientation.HORIZONTAL)
        .min(0)
    )


# -- variables --------------------------------------------------------------------------------


def datasource_variable() -> db.DatasourceVariable:
    return (
        db.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .description("The Prometheus (or Thanos, Mimir) that scrapes the Oversight agents.")
    )


def label_variable(
    name: str,
    query: str,
    description: str,
    *,
    multi: bool = False,
    label: str | None = None,
    hidden: bool = False,
) -> db.QueryVariable:
    """A ``label_values(...)`` variable; ``multi`` ones offer All, which matches everything."""
    variable = (
        db.QueryVariable(name)
        .label(label or name.capitalize())
        .description(description)
        .query(query)
        .datasource(DATASOURCE)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        variable = variable.multi(True).include_all(True).all_value(".*")
    if hidden:
        variable = variable.hide(model.VariableHide.HIDE_VARIABLE)
    return variable


def agent_variable() -> db.QueryVariable:
    return label_variable(
        "agent",
        "label_values(oversight_build_info, agent)",
        "The agents (sidecars, shards) whose view to show.",
        multi=True,
    )


# -- links ------------------------------------------------------------------------------------


def dashboard_links() -> list[db.DashboardLink]:
    """The other Oversight dashboards, keeping the time range and the shared variables."""
    return [
        db.DashboardLink("Oversight")
        .type(model.DashboardLinkType.DASHBOARDS)
        .tags([TAG])
        .as_dropdown(False)
        .include_vars(True)
        .keep_time(True)
    ]


def integration_url(pattern: str, integration: str) -> str:
    """A link to the integration dashboard; arguments are Grafana data-link expressions."""
    return (
        f"/d/{UIDS['integration']}/integration?var-datasource=${{datasource}}"
        f"&var-pattern={pattern}&var-integration={integration}&${{__url_time_range}}"
    )


def integration_column_link() -> list[model.DynamicConfigValue]:
    """A table's ``integration`` column, each cell linked to that integration's detail."""
    url = integration_url("${__data.fields.pattern}", "${__value.raw}")
    return [prop("links", [{"title": "Integration detail", "url": url}])]


def runbook_column_link() -> list[model.DynamicConfigValue]:
    """A table's ``runbook`` column, each cell a link to the runbook it holds."""
    return [prop("links", [{"title": "Runbook", "url": "${__value.raw}", "targetBlank": True}])]


def data_link(title: str, url: str, *, new_tab: bool = False) -> db.DashboardLink:
    return db.DashboardLink(title).url(url).target_blank(new_tab)


# -- assembling ---------------------------------------------------------------------------------


def new_dashboard(key: str, title: str, description: str) -> db.Dashboard:
    """A dashboard with the conventions every Oversight dashboard follows."""
    return (
        db.Dashboard(title)
        .uid(UIDS[key])
        .description(description)
        .tags([TAG])
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .time("now-1h", "now")
        .refresh(REFRESH)
        .timezone("browser")
        .links(list(dashboard_links()))
    )


def with_sections(
    dashboard: db.Dashboard, sections: Sequence[tuple[str, Sequence[Any]]]
) -> db.Dashboard:
    """Rows titled as given, each followed by its panels, laid out left to right."""
    for title, panels in sections:
        dashboard = dashboard.with_row(db.Row(title))
        for item in panels:
            dashboard = dashboard.with_panel(item)
    return dashboard


def finish(dashboard: db.Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model, with panel ids 1, 2, ... in layout order."""
    built = dashboard.build()
    built.id_val = None
    built.annotations = model.AnnotationContainer(list_val=[])
    for number, item in enumerate(built.panels or [], start=1):
        item.id_val = number
    plain: dict[str, Any] = json.loads(json.dumps(built, cls=JSONEncoder))
    return plain
