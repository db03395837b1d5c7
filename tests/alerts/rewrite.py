"""Make the shipped rules and Alertmanager routing fast enough for a test, changing nothing else."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

# Time settings of every route, replaced so that a notification leaves within a second or two.
ROUTE_TIMING = ("group_wait", "group_interval", "repeat_interval")


# The minimum history an alert asks for (the burn rates' runs counter, the forecast's
# resource seen that long ago): a wait, like ``for``.
HISTORY = re.compile(
    r"\b(oversight_probe_runs_total|oversight_capacity_utilisation_ratio) offset \w+"
)


def shorten_for(rules_text: str, duration: str) -> str:
    """The rule file with every alerting rule's ``for``, and the minimum history its
    expression asks for, set to ``duration``.

    Everything else in expressions, labels and annotations stays as shipped, so the test runs
    the real rules; only the waiting is shorter. Rules without ``for`` keep none.
    """
    doc = yaml.safe_load(rules_text)
    for rule in _rules(doc):
        if "for" in rule:
            rule["for"] = duration
        if "alert" in rule:
            rule["expr"] = HISTORY.sub(rf"\1 offset {duration}", rule["expr"])
    return yaml.safe_dump(doc, sort_keys=False)


def fast_alertmanager(
    config_text: str,
    webhook: str,
    *,
    group_wait: str = "1s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
) -> str:
    """The Alertmanager config with every receiver posting to ``webhook``/<receiver name>.

    Every route gets the given timings (children inherit them from the root when they set none)
    and loses its time-based mutes, so the outcome does not depend on the day of the week. The
    tree, matchers, ``continue`` and inhibition rules are untouched.
    """
    doc = yaml.safe_load(config_text)
    for receiver in doc["receivers"]:
        configs = receiver.get("webhook_configs")
        if not configs:
            raise ValueError(f"receiver {receiver['name']!r} has no webhook to redirect")
        for config in configs:
            config["url"] = f"{webhook.rstrip('/')}/{receiver['name']}"
    timing = {
        "group_wait": group_wait,
        "group_interval": group_interval,
        "repeat_interval": repeat_interval,
    }
    for route in _routes(doc["route"]):
        for key in ROUTE_TIMING:
            if key in route or route is doc["route"]:
                route[key] = timing[key]
        route.pop("mute_time_intervals", None)
        route.pop("active_time_intervals", None)
    return yaml.safe_dump(doc, sort_keys=False)


def _rules(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for group in doc["groups"]:
        yield from group["rules"]


def _routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield route
    for child in route.get("routes", ()):
        yield from _routes(child)
