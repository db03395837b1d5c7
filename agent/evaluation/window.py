"""A rolling window of runs in fixed time buckets: bounded memory whatever the probe rate.

One bucket per ``step`` seconds (a minute by default) holds counts only: runs, successes,
and successful runs within the latency limit. A 24-hour window at one bucket a minute is
1440 small records per integration, however often its probes run.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from agent.policies.base import WindowTotals


@dataclass(slots=True)
class _Bucket:
    start: float
    runs: int = 0
    successes: int = 0
    fast: int = 0


class RollingWindow:
    def __init__(self, span: float, latency_limit: float, step: float = 60.0) -> None:
        self.span = span
        self.latency_limit = latency_limit
        self.step = min(step, span)
        self._buckets: deque[_Bucket] = deque(maxlen=int(span // self.step) + 1)

    def add(self, at: float, success: bool, duration: float) -> None:
        start = at - at % self.step
        if not self._buckets or self._buckets[-1].start < start:
            self._buckets.append(_Bucket(start))
        bucket = self._buckets[-1]
        if start < bucket.start:  # late by a bucket or more (a slow run): count it where it is
            bucket = next((b for b in self._buckets if b.start == start), bucket)
        bucket.runs += 1
        if success:
            bucket.successes += 1
            if duration <= self.latency_limit:
                bucket.fast += 1

    def totals(self, now: float) -> WindowTotals:
        """Counts of the buckets that overlap the last ``span`` seconds."""
        since = now - self.span
        while self._buckets and self._buckets[0].start + self.step <= since:
            self._buckets.popleft()
        runs = successes = fast = 0
        for bucket in self._buckets:
            runs += bucket.runs
            successes += bucket.successes
            fast += bucket.fast
        return WindowTotals(runs, successes, fast, self.span)

    def __len__(self) -> int:
        return len(self._buckets)
