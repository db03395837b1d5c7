"""A Nagios plugin's output: the first line is its message, perfdata follows ``|``.

The format (Nagios Plugin Development Guidelines)::

    TEXT OUTPUT | 'label'=value[UOM];[warn];[crit];[min];[max] ...
    LONG TEXT LINE 2
    LONG TEXT LINE 3 | more perfdata

Values are read into base units (s, ms and us to seconds; B, KB, MB, GB, TB to bytes with
1024 multiples; % to a ratio of 1; c is a count); a value of ``U`` (undetermined) or one that
does not parse is left out rather than guessed at. The plugin's own warn and crit levels are
parsed but not exported: its exit code already says which it crossed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MESSAGE_LIMIT = 240  # characters of the first line kept as the run's message

_PAIR = re.compile(r"""\s*('(?:[^']|'')+'|[^'=\s][^=\s]*)=(\S*)""")
_NUMBER = re.compile(r"^([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)([A-Za-z%]*)$")
_UNITS: dict[str, tuple[float, str]] = {
    "": (1.0, ""),
    "s": (1.0, "seconds"),
    "ms": (1e-3, "seconds"),
    "us": (1e-6, "seconds"),
    "%": (0.01, "ratio"),
    "b": (1.0, "bytes"),
    "kb": (1024.0, "bytes"),
    "mb": (1024.0**2, "bytes"),
    "gb": (1024.0**3, "bytes"),
    "tb": (1024.0**4, "bytes"),
    "c": (1.0, "count"),
}


@dataclass(frozen=True, slots=True)
class Perf:
    """One perfdata item, its value in its base ``unit`` ("" when the plugin gave none)."""

    label: str
    value: float
    unit: str
    warn: str = ""
    crit: str = ""
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True, slots=True)
class PluginOutput:
    message: str
    perfdata: tuple[Perf, ...]


def parse_output(text: str) -> PluginOutput:
    """The message (first line before ``|``) and every perfdata item that parses."""
    first, _, rest = text.partition("\n")
    message, _, perf = first.partition("|")
    _, bar, more = rest.partition("|")
    items = parse_perfdata(perf + (" " + more if bar else ""))
    message = message.strip()
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 1] + "…"
    return PluginOutput(message, items)


def parse_perfdata(text: str) -> tuple[Perf, ...]:
    """Each ``label=value[UOM];warn;crit;min;max`` in ``text``; the first of a label wins."""
    found: dict[str, Perf] = {}
    for match in _PAIR.finditer(text):
        label = match.group(1)
        if label.startswith("'"):
            label = label[1:-1].replace("''", "'")
        fields = match.group(2).split(";")
        number = _NUMBER.match(fields[0])
        scale = _UNITS.get(number.group(2).lower()) if number else None
        if number is None or scale is None or label in found:
            continue
        factor, unit = scale
        padded = [*fields[1:], "", "", "", ""]
        found[label] = Perf(
            label,
            float(number.group(1)) * factor,
            unit,
            padded[0],
            padded[1],
            _bound(padded[2], factor),
            _bound(padded[3], factor),
        )
    return tuple(found.values())


def _bound(text: str, factor: float) -> float | None:
    number = _NUMBER.match(text)
    return float(number.group(1)) * factor if number else None
