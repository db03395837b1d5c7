"""The committed dashboards: generated from the code, and valid for Grafana's dashboard model."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards import build
from dashboards.common import DATASOURCE, UIDS
from tests.dashboards.promql import (
    BUILTINS,
    DASHBOARDS,
    dashboards,
    metric_names,
    panels,
    targets,
)

BOARDS = dashboards()
NAMES = sorted(BOARDS)
REF = {"type": DATASOURCE.type_val, "uid": DATASOURCE.uid}


def _visible(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in panels(board) if p["type"] != "row"]


def _variables(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in board["templating"]["list"]}


def test_committed_json_is_what_the_code_generates() -> None:
    assert build.stale() == [], "run: python -m dashboards.build"
    assert set(BOARDS) == set(build.BUILDERS)


def test_every_dashboard_has_its_stable_uid() -> None:
    assert {name: board["uid"] for name, board in BOARDS.items()} == UIDS
    assert len({board["title"] for board in BOARDS.values()}) == len(BOARDS)


@pytest.mark.parametrize("name", NAMES)
def test_schema_version_and_conventions(name: str) -> None:
    board = BOARDS[name]
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 39
    assert "id" not in board or board["id"] is None  # Grafana assigns its own
    assert "oversight" in board["tags"]
    assert board["annotations"] == {"list": []}
    assert board["time"] == {"from": "now-1h", "to": "now"}


def _missing(ours: Any, parsed: Any, path: str = "") -> list[str]:
    """Paths of what ``ours`` has and ``parsed`` lost or changed (``parsed`` may add defaults)."""
    if isinstance(ours, dict) and isinstance(parsed, dict):
        return [
            lost
            for key, value in ours.items()
            for lost in (
                _missing(value, parsed[key], f"{path}.{key}")
                if key in parsed
                else [f"{path}.{key}"]
            )
        ]
    if isinstance(ours, list) and isinstance(parsed, list) and len(ours) == len(parsed):
        return [
            lost
            for i, (a, b) in enumerate(zip(ours, parsed, strict=True))
            for lost in _missing(a, b, f"{path}[{i}]")
        ]
    return [] if ours == parsed else [path]


@pytest.mark.parametrize("name", NAMES)
def test_every_key_is_known_to_grafanas_schema(name: str) -> None:
    """Parsed by the SDK's model (generated from Grafana's schema) and written back, the JSON
    keeps every key and value: no misspelt or unknown field."""
    board = BOARDS[name]
    parsed = json.loads(json.dumps(Dashboard.from_json(board), cls=JSONEncoder))
    assert _missing(board, parsed) == []


@pytest.mark.parametrize("name", NAMES)
def test_panel_ids_are_unique(name: str) -> None:
    ids = [p["id"] for p in panels(BOARDS[name])]
    assert all(isinstance(i, int) and i > 0 for i in ids)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", NAMES)
def test_panels_fit_a_24_column_grid_without_overlaps(name: str) -> None:
    boxes = []
    for item in panels(BOARDS[name]):
        pos = item["gridPos"]
        assert pos["w"] > 0 and pos["h"] > 0, item["title"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, item["title"]
        assert pos["y"] >= 0, item["title"]
        boxes.append((item["title"], pos))
    for (a, p), (b, q) in itertools.combinations(boxes, 2):
        apart = (
            p["x"] + p["w"] <= q["x"]
            or q["x"] + q["w"] <= p["x"]
            or p["y"] + p["h"] <= q["y"]
            or q["y"] + q["h"] <= p["y"]
        )
        assert apart, f"{name}: {a!r} overlaps {b!r}"


def _datasource_refs(node: Any, path: str = "") -> list[tuple[str, Any]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                found.append((f"{path}.{key}", value))
            found += _datasource_refs(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _datasource_refs(value, f"{path}[{i}]")
    return found


@pytest.mark.parametrize("name", NAMES)
def test_every_datasource_reference_is_the_variable(name: str) -> None:
    board = BOARDS[name]
    refs = _datasource_refs(board)
    assert refs
    assert [path for path, ref in refs if ref != REF] == []
    variable = _variables(board)["datasource"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    for item in _visible(board):
        assert item["datasource"] == REF, item["title"]
        assert all(t["datasource"] == REF for t in item["targets"]), item["title"]


@pytest.mark.parametrize("name", NAMES)
def test_every_panel_has_a_unit_a_description_and_queries(name: str) -> None:
    for item in _visible(BOARDS[name]):
        title = item["title"]
        assert item["fieldConfig"]["defaults"].get("unit"), f"{title}: no unit"
        assert len(item.get("description", "")) > 20, f"{title}: no description"
        refs = [t["refId"] for t in item["targets"]]
        assert refs and len(refs) == len(set(refs)), title
        assert all(t["expr"].strip() for t in item["targets"]), title


@pytest.mark.parametrize("name", NAMES)
def test_queries_use_only_defined_variables(name: str) -> None:
    board = BOARDS[name]
    defined = set(_variables(board)) | set(BUILTINS)
    texts = [t["expr"] for item in _visible(board) for t in item["targets"]]
    texts += [str(v.get("query", "")) for v in board["templating"]["list"]]
    found = re.findall(r"\$\{(\w+)\}|\$(\w+)", " ".join(texts))
    used = {m[0] or m[1] for m in found} - {str(i) for i in range(10)}  # $1: a regex group
    assert used <= defined, f"undefined: {used - defined}"


def _links(node: Any) -> list[dict[str, Any]]:
    """Every link (dashboard, panel or data link) with a URL, anywhere below ``node``."""
    if isinstance(node, dict):
        own = [node] if isinstance(node.get("url"), str) else []
        return own + [link for value in node.values() for link in _links(value)]
    if isinstance(node, list):
        return [link for value in node for link in _links(value)]
    return []


def _urls(node: Any) -> list[str]:
    return [link["url"] for link in _links(node)]


def test_links_reach_existing_dashboards_and_their_variables() -> None:
    by_uid = {board["uid"]: board for board in BOARDS.values()}
    internal = 0
    for board in BOARDS.values():
        for url in _urls(board["panels"]):
            if not url.startswith("/d/"):
                continue
            internal += 1
            parts = urlsplit(url)
            uid = parts.path.split("/")[2]
            assert uid in by_uid, url
            wanted = {
                k.removeprefix("var-") for k, _ in parse_qsl(parts.query) if k.startswith("var-")
            }
            assert wanted <= set(_variables(by_uid[uid])), url
    assert internal >= 3
    for board in BOARDS.values():  # every dashboard reaches the others through its tag
        assert any(
            link["type"] == "dashboards" and "oversight" in link["tags"] for link in board["links"]
        )


def test_runbooks_are_linked() -> None:
    integration = BOARDS["integration"]
    assert any(link.get("url") == "${runbook}" for link in integration["links"])
    for name in ("overview", "integration"):
        runbooks = [link for link in _links(BOARDS[name]["panels"]) if link["title"] == "Runbook"]
        assert runbooks, name
        assert all(link["targetBlank"] for link in runbooks), name


def test_thresholds_come_from_the_agent() -> None:
    """Latency and certificate panels draw the agent's own thresholds, not numbers of ours."""
    exprs = " ".join(t.expr for t in targets() if t.dashboard == "integration")
    assert {
        "oversight_probe_latency_threshold_seconds",
        "oversight_probe_cert_expiry_threshold_seconds",
        "oversight_probe_credential_expiry_threshold_seconds",
        "oversight_probe_utilisation_threshold_ratio",
    } <= metric_names(exprs)


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{x="y"}[5m]))', {"a_bucket"}),
        ('a / on (agent, probe) group_left () b{c="d"}', {"a", "b"}),
        ("count(ALERTS) or vector(0)", {"ALERTS"}),
        ('x:y:z{a=~"or|and"} and on () time() > 1', {"x:y:z"}),
        ('label_replace(vector(0), "reason", "none", "", "")', set()),
        ("last_over_time(a[30d]) unless a offset 30d or b offset $__rate_interval", {"a", "b"}),
    ],
)
def test_metric_names_are_read_from_queries(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_provisioning_files() -> None:
    root = DASHBOARDS / "provisioning"
    providers = yaml.safe_load((root / "dashboards" / "oversight.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    assert provider["allowUiUpdates"] is False
    sources = yaml.safe_load((root / "datasources" / "prometheus.yaml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["uid"] and source["url"].startswith("http")
