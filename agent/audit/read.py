"""Read audit events back for a period: the API's ``/api/v1/audit`` and ``oversight report``.

Reads the live file and its rotated files oldest first and keeps the newest ``limit`` events
of the period, so memory stays bounded whatever the size of the trail. Reading does not
verify the chain (``oversight audit verify`` does).
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.audit import AuditLog
from agent.durations import parse_duration


def parse_since(text: str, now: float) -> float:
    """``24h`` (that long ago), an RFC 3339 time, or unix seconds -> unix seconds, finite."""
    text = text.strip()
    seconds = _parse_time(text, now)
    if not math.isfinite(seconds):
        raise ValueError(f"{text[:40]!r} is not a time: it must be a finite number")
    return seconds


def _parse_time(text: str, now: float) -> float:
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text[:40]!r} is not a period (24h), a time (2026-01-31T00:00:00Z) or unix seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def event_time(record: dict[str, Any]) -> float | None:
    try:
        return datetime.fromisoformat(str(record["time"]).replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return None


def read_events(
    path: str | Path,
    *,
    keep: int = 5,
    since: float = 0.0,
    until: float | None = None,
    types: Iterable[str] = (),
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """The newest ``limit`` events with ``since <= time <= until``, oldest first."""
    wanted = set(types)
    until = time.time() if until is None else until
    found: deque[dict[str, Any]] = deque(maxlen=max(1, limit))
    for file in AuditLog(path, keep=keep).files():
        if not file.is_file():  # absent, or a device (/dev/full in a test): nothing to read
            continue
        try:
            handle = file.open(encoding="utf-8", errors="replace")
        except OSError:
            continue
        with handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(record, dict) or (wanted and record.get("type") not in wanted):
                    continue
                at = event_time(record)
                if at is not None and since <= at <= until:
                    found.append(record)
    return list(found)


def count_types(events: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        kind = str(event.get("type", ""))
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))
