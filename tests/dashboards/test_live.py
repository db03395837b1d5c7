"""Every panel query against a real Prometheus that scraped `oversight demo`: no dead panels."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from dashboards.integration_dependencies import NO_DEPENDENCY
from dashboards.promql import STATE_CODES
from tests.dashboards.promql import (
    PROMETHEUS_SERIES,
    Target,
    dashboards,
    label_values,
    metric_names,
    panels,
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
    "policy": "auth_required",  # the demo's payment processor answers without credentials
}
# Panels that PICKED shows only in their empty case ('none'), with values that give them
# something to show: the demo's payment_workflow depends on account_service and client_service.
ALSO_PICKED = {
    ("integration", "Dependencies"): {"integration": "payment_workflow"},
}
DEPENDENCIES = {("account", "account_service"), ("client", "client_service")}


@pytest.fixture(scope="module")
def picked(stack: Stack) -> dict[str, str]:
    """A value for every variable: the demo's agent and target, and PICKED."""
    (build,) = stack.query("oversight_build_info")
    return PICKED | {"agent": build["metric"]["agent"], "instance": stack.instance}


def _variants(target: Target, picked: dict[str, str]) -> dict[str, dict[str, str]]:
    """The picked values, and the same with every variable that offers All on All; for the
    panels in ALSO_PICKED both again with their values."""
    bases = {"picked": picked}
    if (also := ALSO_PICKED.get((target.dashboard, target.panel))) is not None:
        bases["also picked"] = picked | also
    out: dict[str, dict[str, str]] = {}
    for base, values in bases.items():
        everything = dict(values)
        for variable in dashboards()[target.dashboard]["templating"]["list"]:
            if variable.get("includeAll"):
                everything[variable["name"]] = variable["allValue"]
        out |= {base: values, f"{base}, all": everything}
    return out


@pytest.mark.parametrize("target", TARGETS, ids=[t.id for t in TARGETS])
def test_panel_query_returns_series(stack: Stack, picked: dict[str, str], target: Any) -> None:
    for name, filled in _variants(target, picked).items():
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
    oversight_compliance_failing while a check fails)."""
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


def _state_mapping(board: dict[str, Any], title: str, column: str) -> dict[str, str]:
    """Value -> text of the value mappings the panel's override gives ``column``."""
    (item,) = [p for p in panels(board) if p["title"] == title]
    (override,) = [o for o in item["fieldConfig"]["overrides"] if o["matcher"]["options"] == column]
    (mappings,) = [p["value"] for p in override["properties"] if p["id"] == "mappings"]
    return {value: shown["text"] for m in mappings for value, shown in m["options"].items()}


@pytest.mark.parametrize(
    ("integration", "expected"),
    [
        ("payment_workflow", DEPENDENCIES),
        ("payment_processor", {("", "none")}),
    ],
)
def test_dependencies_show_each_dependency_in_its_current_state(
    stack: Stack, picked: dict[str, str], integration: str, expected: set[tuple[str, str]]
) -> None:
    """One row per direct dependency, labelled for its own detail link and valued the code of
    the state the agent exports for it at that moment; one 'none' row without dependencies."""
    (target,) = [t for t in TARGETS if (t.dashboard, t.panel) == ("integration", "Dependencies")]
    shown = _state_mapping(dashboards()["integration"], "Dependencies", "State")
    at = time.time() - 1  # one instant for the panel and the states it is checked against
    result = stack.query(substitute(target.expr, picked | {"integration": integration}), at)
    rows = {
        (r["metric"].get("pattern", ""), r["metric"].get("integration", "")): r["value"][1]
        for r in result
    }
    assert set(rows) == expected and len(result) == len(expected), result
    codes = {name: code for name, code, _ in STATE_CODES}
    for (pattern, name), value in rows.items():
        if name == "none":
            assert int(value) == NO_DEPENDENCY and shown[value] == "-"
            continue
        selector = f'pattern="{pattern}", integration="{name}", agent="{picked["agent"]}"'
        (state,) = stack.query(f"oversight_integration_state{{{selector}}} == 1", at)
        assert int(value) == codes[state["metric"]["state"]], (pattern, name, state)
        assert shown[value] == state["metric"]["state"]
