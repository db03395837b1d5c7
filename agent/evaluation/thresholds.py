"""Signals a threshold can watch, and how a result is checked against its levels."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.durations import format_duration
from agent.results import Breach, Severity


@dataclass(frozen=True, slots=True)
class Signal:
    """A measurable quantity; ``higher_is_worse`` says which side of a level is a breach."""

    name: str
    unit: str
    higher_is_worse: bool
    read: Callable[[float, Mapping[str, float]], float | None]  # (duration, values) -> value

    def format(self, value: float) -> str:
        """A value as people read it: ``412ms``, ``5d``, ``85%``."""
        if self.unit == "seconds":
            return format_duration(round(value, 3) if value < 60 else round(value))
        if self.unit == "ratio":
            return f"{value:.0%}"
        return f"{value:g}"


SIGNALS: dict[str, Signal] = {
    s.name: s
    for s in (
        Signal("latency", "seconds", True, lambda duration, _values: duration),
        Signal(
            "cert_expiry",
            "seconds",
            False,
            lambda _d, values: (
                values["ssl_earliest_cert_expiry"] - time.time()
                if "ssl_earliest_cert_expiry" in values
                else None
            ),
        ),
    )
}


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    signal: Signal
    warning: float | None
    critical: float | None

    def check(self, duration: float, values: Mapping[str, float]) -> Breach | None:
        value = self.signal.read(duration, values)
        if value is None:
            return None
        for severity, limit in (
            (Severity.CRITICAL, self.critical),
            (Severity.WARNING, self.warning),
        ):
            if limit is None:
                continue
            if (value > limit) if self.signal.higher_is_worse else (value < limit):
                return Breach(self.signal.name, severity, value, limit)
        return None


def check_all(
    rules: tuple[ThresholdRule, ...], duration: float, values: Mapping[str, Any]
) -> tuple[Breach, ...]:
    return tuple(b for rule in rules if (b := rule.check(duration, values)) is not None)
