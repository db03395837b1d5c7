"""Every panel query against a real Prometheus that scraped `oversight demo`: no dead panels."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.dashboards.promql import (
    PROMETHEUS_SERIES,
    dashboards,
    label_values,
    metric_names,
    substitute,
    targets,
    variable_queries,
)
from tests.dashboards.stack import RULES, Stack

TARGETS = targets()
# One integration of the demo, as a person would pick it (multi-value variables: one value).
PICKED = {
    "pattern": "bill_pay",
    "integration": "payment_processor",
    "scope": "external",
    "probe": "health",
    "policy": "tls_min_version",
}


@pytest.fixture(scope="module")
def picked(stack: Stack) -> dict[str, str]:
    """A value for every variable: the demo's agent and target, and PICKED."""
    (build,) = stack.query("oversight_build_info")
    return PICKED | {"agent": build["metric"]["agent"], "instance": stack.instance}


def _variants(dashboard: str, picked: dict[str, str]) -> dict[str, dict[str, str]]:
    """The picked values, and the same with every variable that offers All on All."""
    everything = dict(picked)
    for variable in dashboards()[dashboard]["templating"]["list"]:
        if variable.get("includeAll"):
            everything[variable["name"]] = variable["allValue"]
    return {"picked": picked, "all": everything}


@pytest.mark.parametrize("target", TARGETS, ids=[t.id for t in TARGETS])
def test_panel_query_returns_series(stack: Stack, picked: dict[str, str], target: Any) -> None:
    for name, filled in _variants(target.dashboard, picked).items():
        expr = substitute(target.expr, filled)
        result = stack.query(expr)
        assert result, f"{target.id} returns nothing with {name} values:\n{expr}"


def _recorded() -> set[str]:
    return {
        rule["record"]
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def test_every_metric_named_exists(stack: Stack) -> None:
    """Names in /metrics now, or at any scrape of this run (some show only while a fault lasts:
    oversight_integration_root_cause while something is impacted)."""
    now = text_string_to_metric_families(stack.metrics())
    exported = {sample.name for family in now for sample in family.samples}
    exported |= stack.scraped_names()
    recorded = _recorded()
    named = {name for target in TARGETS for name in metric_names(target.expr)}
    for board in dashboards().values():
        for query in variable_queries(board).values():
            named |= metric_names(label_values(query)[0])
    missing_rules = {n for n in named if ":" in n} - recorded
    assert not missing_rules, f"recording rules not in alerts/rules: {sorted(missing_rules)}"
    missing = {n for n in named if ":" not in n} - exported - PROMETHEUS_SERIES
    assert not missing, f"named by a dashboard, absent from the agent's /metrics: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_variables_offer_the_picked_values(stack: Stack, picked: dict[str, str], name: str) -> None:
    """Each variable's label_values query lists the value the panel tests picked."""
    for variable, query in variable_queries(dashboards()[name]).items():
        selector, label = label_values(substitute(query, picked))
        offered = {series.get(label) for series in stack.series(selector)} - {None}
        assert offered, f"{name}: ${variable} offers nothing ({query})"
        if variable in picked:
            assert picked[variable] in offered, f"{name}: ${variable} lacks {picked[variable]}"
