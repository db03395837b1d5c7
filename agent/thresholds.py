"""Signals a threshold can watch, and how a result is checked against its levels."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from agent.durations import format_duration, parse_duration
from agent.fields import parse_percent
from agent.results import Breach, Capacity, Severity
from agent.vocabulary import (
    CERT_EXPIRY_THRESHOLD,
    CREDENTIAL_EXPIRY,
    CREDENTIAL_EXPIRY_THRESHOLD,
    LATENCY_THRESHOLD,
    SSL_EARLIEST_CERT_EXPIRY,
    UTILISATION_THRESHOLD,
    Family,
)


@dataclass(frozen=True, slots=True)
class Observed:
    """What a finished run measured, as thresholds see it."""

    duration: float
    values: Mapping[Family, float]
    capacity: Sequence[Capacity] = ()


@dataclass(frozen=True, slots=True)
class Signal:
    """A measurable quantity; ``higher_is_worse`` says which side of a level is a breach.

    ``read`` yields ``(subject, value)`` pairs: one with subject "" for a single value (latency),
    one per resource for signals over several (utilisation of memory, descriptors, a pool).
    A breach is named ``signal`` or ``signal:subject``.
    """

    name: str
    unit: str
    higher_is_worse: bool
    read: Callable[[Observed], Iterable[tuple[str, float]]]
    family: Family | None  # where configured levels are exported (None: not configurable)
    describe: Callable[[Breach], str] | None = None  # a breach in words, when not a level

    def format(self, value: float) -> str:
        """A value as people read it: ``412ms``, ``5d``, ``85%``."""
        if self.unit == "seconds":
            return format_duration(round(value, 3) if value < 60 else round(value))
        if self.unit == "ratio":
            return f"{value:.0%}"
        return f"{value:g}"


def _cert_expiry(observed: Observed) -> Iterable[tuple[str, float]]:
    expiry = observed.values.get(SSL_EARLIEST_CERT_EXPIRY)
    return () if expiry is None else (("", expiry - time.time()),)


def _credential_expiry(observed: Observed) -> Iterable[tuple[str, float]]:
    expiry = observed.values.get(CREDENTIAL_EXPIRY)
    return () if expiry is None else (("", expiry - time.time()),)


def _utilisation(observed: Observed) -> Iterable[tuple[str, float]]:
    return ((c.resource, u) for c in observed.capacity if (u := c.utilisation) is not None)


def _reported(_: Observed) -> Iterable[tuple[str, float]]:
    return ()  # the target reports the breach itself (a plugin's exit code): nothing to read


SIGNALS: dict[str, Signal] = {
    s.name: s
    for s in (
        Signal(
            "latency",
            "seconds",
            True,
            lambda observed: (("", observed.duration),),
            LATENCY_THRESHOLD,
        ),
        Signal("cert_expiry", "seconds", False, _cert_expiry, CERT_EXPIRY_THRESHOLD),
        Signal("utilisation", "ratio", True, _utilisation, UTILISATION_THRESHOLD),
        Signal(
            "credential_expiry",
            "seconds",
            False,
            _credential_expiry,
            CREDENTIAL_EXPIRY_THRESHOLD,
        ),
        # A Nagios-style check's own verdict: exit 1 is a warning (agent/probers/command.py).
        Signal(
            "check",
            "state",
            True,
            _reported,
            None,
            lambda b: f"check {b.severity} (exit {b.value:g})",
        ),
    )
}


def parse_level(value: float | str | None, unit: str) -> float | None:
    """A threshold level as written, in a signal's unit: a duration (``300ms``, ``30d``) for
    seconds, a percentage (``90%``, ``90``, ``0.9``) for ratios."""
    if value is None:
        return None
    return parse_percent(value) if unit == "ratio" else parse_duration(value)


def signal_of(breach_signal: str) -> Signal | None:
    """The Signal behind a breach name such as ``utilisation:memory``."""
    return SIGNALS.get(breach_signal.partition(":")[0])


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    signal: Signal
    warning: float | None
    critical: float | None

    def check(self, observed: Observed) -> Iterable[Breach]:
        for subject, value in self.signal.read(observed):
            name = f"{self.signal.name}:{subject}" if subject else self.signal.name
            for severity, limit in (
                (Severity.CRITICAL, self.critical),
                (Severity.WARNING, self.warning),
            ):
                if limit is None:
                    continue
                if (value > limit) if self.signal.higher_is_worse else (value < limit):
                    yield Breach(name, severity, value, limit)
                    break


def check_all(rules: Sequence[ThresholdRule], observed: Observed) -> tuple[Breach, ...]:
    return tuple(breach for rule in rules for breach in rule.check(observed))
