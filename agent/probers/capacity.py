"""Shared by the capacity kinds: recording a reading and the [USED.x], [UTILISATION.x] facts."""

from __future__ import annotations

import math
from collections.abc import Mapping

from agent.conditions.facts import Fact, FactType
from agent.probers.base import ProbeContext
from agent.results import Capacity, Reason


def _reading(table: Mapping[str, float | None], key: str) -> float:
    """One resource's number; an unmeasured resource or an unknown side says so."""
    if key not in table:
        measured = ", ".join(table) or "none"
        raise LookupError(f"no resource {key!r} (measured: {measured})")
    value = table[key]
    if value is None:
        raise LookupError(f"{key} has no limit to compare with")
    return value


USED = Fact(
    "USED",
    FactType.NUMBER,
    Reason.CONDITION_FAILED,
    "how much of a resource is in use, in its unit: [USED.open_fds] < 1000",
    lookup=_reading,
    keyed_type=FactType.NUMBER,
)
UTILISATION = Fact(
    "UTILISATION",
    FactType.NUMBER,
    Reason.THRESHOLD,
    "used / limit of a resource, 0 to 1: [UTILISATION.memory] < 0.9",
    lookup=_reading,
    keyed_type=FactType.NUMBER,
)
CAPACITY_FACTS = (USED, UTILISATION)


def record(
    ctx: ProbeContext,
    resource: str,
    used: float | None,
    limit: float | None,
    unit: str = "count",
) -> Capacity:
    """Add one reading to the run (the exporters' ``oversight_capacity_*``) and its facts.

    A limit of zero or less, or a value that is not a finite number, is recorded as unknown:
    it would make a ratio that means nothing.
    """
    reading = Capacity(resource, _finite(used), _finite(limit, positive=True), unit)
    ctx.capacity.append(reading)
    ctx.facts.setdefault("USED", {})[resource] = reading.used
    ctx.facts.setdefault("UTILISATION", {})[resource] = reading.utilisation
    return reading


def _finite(value: float | None, *, positive: bool = False) -> float | None:
    if value is None or not math.isfinite(value) or (positive and value <= 0):
        return None
    return float(value)
