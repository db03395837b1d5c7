"""How the pages say times, durations and shares, and in which order they list integrations.

status.js, which redraws the status page from the JSON API, has a twin of each function here
(``forHowLong``, ``clock``, ``millis``, ``percent``, ``worstFirst``, ``worstState``): change
one, change both. A browser test holds the two renderings to the same page.
"""

from __future__ import annotations

import html
import time
from typing import Any

STATES = ("down", "impacted", "degraded", "unknown", "ok")  # worst first
CRITICALITIES = ("critical", "high", "medium", "low")

e = html.escape


def for_how_long(seconds: float) -> str:
    """``45s``, ``4m``, ``2h 5m``, ``3d 4h``: time in a state, to the unit that matters."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    m = s // 60
    if m < 60:
        return f"{m}m"
    h = m // 60
    if h < 24:
        return f"{h}h {m % 60}m"
    return f"{h // 24}d {h % 24}h"


def clock(unix: float) -> str:
    """``18:24:36 UTC``."""
    return time.strftime("%H:%M:%S UTC", time.gmtime(unix))


def stamp(unix: float) -> str:
    """``2025-01-31 18:24:36 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(unix))


def millis(seconds: float) -> str:
    """``12 ms``, ``0.4 ms``, ``1530 ms``."""
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def percent(ratio: float | None) -> str:
    """``93.3%``, ``100%``; ``n/a`` when there is nothing to count."""
    if ratio is None:
        return "n/a"
    text = f"{ratio * 100:.1f}"
    return (text[:-2] if text.endswith(".0") else text) + "%"


def worst_first(items: dict[str, Any]) -> list[tuple[str, Any]]:
    """Integrations worst state first, then most critical, then as configured."""
    ranked = sorted(
        enumerate(items.items()),
        key=lambda item: (
            state_rank(item[1][1]["state"]),
            _rank(CRITICALITIES, item[1][1]["criticality"]),
            item[0],
        ),
    )
    return [pair for _, pair in ranked]


def worst_state(states: list[str]) -> str:
    return min(states, key=state_rank, default="unknown")


def state_rank(state: str) -> int:
    """0 for the worst state (down) to 4 for ok."""
    return _rank(STATES, state)


def _rank(table: tuple[str, ...], value: str) -> int:
    return table.index(value) if value in table else len(table)
