"""Durations as people write them in config: ``250ms``, ``15s``, ``5m``, ``1h30m``, ``30d``."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: object) -> float:
    """Seconds from ``"1h30m"``-style text or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 15s, 5m or 30d")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError("expected a duration like 15s, 5m or 30d")
    text = value.strip()
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"{value!r} is not a duration; write it like 250ms, 15s, 5m, 1h30m or 30d")
    return total


def format_duration(seconds: float) -> str:
    """The shortest readable form, for summaries and messages."""
    if seconds and seconds < 1:
        return f"{seconds * 1000:g}ms"
    for unit in ("d", "h", "m"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{seconds / _UNITS[unit]:g}{unit}"
    for unit in ("d", "h"):  # large and ragged: one decimal of the largest unit is enough
        if seconds >= _UNITS[unit]:
            return f"{seconds / _UNITS[unit]:.1f}{unit}"
    return f"{seconds:g}s"
