"""What the agent says of itself in /metrics, read by the bench: its series per probe and per
integration (the series budget) and its event loop's lag over the measured windows."""

from __future__ import annotations

import math
import urllib.request
from collections import Counter
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

LOOP_LAG = "oversight_event_loop_lag_seconds"


@dataclass(frozen=True)
class AgentMetrics:
    series_per_probe: int  # the most any probe has (series labelled with it)
    series_per_integration: int  # the most any integration has of its own (no probe label)
    lag_buckets: tuple[tuple[float, float], ...]  # (le, cumulative count) of the loop's lag


def read(url: str) -> AgentMetrics:
    with urllib.request.urlopen(url, timeout=120) as response:
        text = response.read().decode()
    probes: Counter[tuple[str, ...]] = Counter()
    integrations: Counter[tuple[str, str]] = Counter()
    lag: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == f"{LOOP_LAG}_bucket":
                lag.append((float(labels["le"]), sample.value))
            elif "probe" in labels and "integration" in labels:
                probes[labels["pattern"], labels["integration"], labels["probe"]] += 1
            elif "integration" in labels and "pattern" in labels:
                integrations[labels["pattern"], labels["integration"]] += 1
    return AgentMetrics(
        max(probes.values(), default=0),
        max(integrations.values(), default=0),
        tuple(sorted(lag)),
    )


def lag_between(before: AgentMetrics, after: AgentMetrics) -> dict[str, float]:
    """The loop's lag over the windows: observations, p99 (the bucket it falls in, ms) and
    the bound of the slowest bucket any observation reached (ms; inf beyond the last)."""
    counts = [
        (le, b - a) for (le, b), (_, a) in zip(after.lag_buckets, before.lag_buckets, strict=True)
    ]
    total = counts[-1][1] if counts else 0
    if not total:
        return {"observations": 0, "p99_ms": math.nan, "max_ms": math.nan}
    p99 = next(le for le, n in counts if n >= 0.99 * total)
    slowest = next(le for le, n in counts if n >= total)
    return {"observations": total, "p99_ms": 1000 * p99, "max_ms": 1000 * slowest}
