"""What the target saw: requests per window and each target's distance from its ideal grid."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Hit:
    at: float  # nginx $msec: unix seconds, millisecond resolution
    target: int
    status: int


def read_hits(path: Path, offset: int = 0) -> tuple[list[Hit], int]:
    """Hits logged after byte ``offset``; returns them and the new offset."""
    hits: list[Hit] = []
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    end = data.rfind(b"\n") + 1  # a half-written last line waits for the next read
    for line in data[:end].decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) != 3 or not parts[1].startswith("/t/"):
            continue
        try:
            hits.append(Hit(float(parts[0]), int(parts[1][3:]), int(parts[2])))
        except ValueError:
            continue
    return hits, offset + end


def count_between(hits: list[Hit], start: float, end: float) -> int:
    return sum(1 for h in hits if start <= h.at < end)


def _wrap(value: float, interval: float) -> float:
    """``value`` folded into [-interval/2, interval/2)."""
    return (value + interval / 2) % interval - interval / 2


def schedule_errors(hits: list[Hit], interval: float, start: float, end: float) -> list[float]:
    """Each hit's distance (seconds) from its target's ideal grid, hits in [start, end).

    A target's grid is ``phase + k * interval``; the phase is fitted per target as the median
    of its hits' offsets, so a constant delay (the request's trip to nginx) is not an error,
    while drift, bursts, late and missing-then-bunched runs are. A run that is skipped
    entirely does not show here; ``missed`` in the report counts those.
    """
    per_target: dict[int, list[float]] = defaultdict(list)
    for hit in hits:
        if start <= hit.at < end:
            per_target[hit.target].append(hit.at)
    errors: list[float] = []
    for times in per_target.values():
        origin = times[0]
        offsets = sorted(_wrap(t - origin, interval) for t in times)
        phase = offsets[len(offsets) // 2]
        errors += [abs(_wrap(t - origin - phase, interval)) for t in times]
    return errors


def missed_runs(hits: list[Hit], targets: int, interval: float, start: float, end: float) -> int:
    """How many runs the window should have held but the target never saw."""
    expected = targets * (end - start) / interval
    return max(0, round(expected - count_between(hits, start, end)))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def lost_runs(hits: list[Hit], interval: float, start: float, end: float) -> int:
    """Runs missing between each target's hits in [start, end): a gap of more than one and a
    half intervals lost ``round(gap / interval) - 1`` runs. Exact where ``missed_runs`` is a
    count against the window's length (off by one at its edges); a target never seen in the
    window does not count here."""
    per_target: dict[int, list[float]] = defaultdict(list)
    for hit in hits:
        if start - interval <= hit.at < end + interval:
            per_target[hit.target].append(hit.at)
    lost = 0
    for times in per_target.values():
        times.sort()
        for a, b in itertools.pairwise(times):
            if b > start and a < end and b - a > 1.5 * interval:
                lost += round((b - a) / interval) - 1
    return lost
