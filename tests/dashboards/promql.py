"""Reading the dashboards' queries: every target, variables filled in, metric names named."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"

# Grafana's own variables, as a Prometheus scraping every second and a 1h dashboard would fill
# them in, but with windows short enough for the test's minute of data.
BUILTINS = {"__rate_interval": "15s", "__interval": "5s", "__range": "60s", "__range_s": "60"}

KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan",
}  # fmt: skip
# Series that Prometheus makes itself, not the agent.
PROMETHEUS_SERIES = {"ALERTS", "ALERTS_FOR_STATE", "up"}


@dataclass(frozen=True)
class Target:
    dashboard: str
    panel: str
    ref_id: str
    expr: str

    @property
    def id(self) -> str:
        return f"{self.dashboard}:{self.panel}:{self.ref_id}"


def dashboards() -> dict[str, dict[str, Any]]:
    """Every committed dashboard JSON, by file stem."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    for item in dashboard.get("panels", []):
        yield item
        yield from item.get("panels", [])


def targets() -> list[Target]:
    return [
        Target(name, item["title"], target["refId"], target["expr"])
        for name, board in dashboards().items()
        for item in panels(board)
        for target in item.get("targets", [])
    ]


def variable_queries(dashboard: Mapping[str, Any]) -> dict[str, str]:
    """name -> ``label_values(...)`` query of the dashboard's query variables."""
    out = {}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            out[variable["name"]] = query["query"] if isinstance(query, dict) else query
    return out


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Fill in ``$name`` / ``${name}`` from ``values`` and Grafana's builtins; fail on others."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name.isdigit():  # a regex group in label_replace: Grafana leaves it alone
            return match.group(0)
        if name in BUILTINS:
            return BUILTINS[name]
        if name not in values:
            raise KeyError(f"no test value for ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", fill, expr)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range windows
    text = re.sub(r"\boffset\s+(?:\$\{?\w+\}?|-?\w+)", " ", text)  # offsets
    text = re.sub(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text
    )  # label lists
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name, rest = match.group(0), text[match.end() :]
        if name.lower() in KEYWORDS or re.match(r"\s*\(", rest):
            continue  # a keyword or a function call
        names.add(name)
    return names


def label_values(query: str) -> tuple[str, str]:
    """``label_values(selector, label)`` -> (selector, label)."""
    match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query.strip())
    assert match, f"not a label_values(selector, label) query: {query}"
    return match.group(1), match.group(2)
