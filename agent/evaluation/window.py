"""A rolling window of runs in fixed time buckets: bounded memory whatever the probe rate.

One bucket per ``step`` seconds (a minute by default) holds counts only: runs, successes, and
successful runs within the latency limit. The buckets are a ring of machine integers, a few
hundred bytes an integration however often its probes run, so ten thousand integrations'
windows fit in a few MiB.
"""

from __future__ import annotations

from array import array

from agent.policies.base import WindowTotals


class RollingWindow:
    __slots__ = ("_counts", "_index", "_size", "latency_limit", "span", "step")

    def __init__(self, span: float, latency_limit: float, step: float = 60.0) -> None:
        self.span = span
        self.latency_limit = latency_limit
        self.step = min(step, span)
        self._size = int(span // self.step) + 1
        self._index = array("q", [-1] * self._size)  # which bucket each slot holds (start/step)
        self._counts = array("I", bytes(4 * 3 * self._size))  # runs, successes, fast per slot

    def add(self, at: float, success: bool, duration: float) -> None:
        bucket = int(at // self.step)
        slot = bucket % self._size
        if self._index[slot] != bucket:
            if self._index[slot] > bucket:
                return  # older than anything the window still holds
            self._index[slot] = bucket
            self._counts[3 * slot : 3 * slot + 3] = array("I", (0, 0, 0))
        base = 3 * slot
        self._counts[base] += 1
        if success:
            self._counts[base + 1] += 1
            if duration <= self.latency_limit:
                self._counts[base + 2] += 1

    def totals(self, now: float) -> WindowTotals:
        """Counts of the buckets that overlap the last ``span`` seconds."""
        oldest = (now - self.span) // self.step  # a bucket ending after this overlaps
        runs = successes = fast = 0
        counts = self._counts
        for slot, bucket in enumerate(self._index):
            if bucket >= oldest and bucket >= 0:
                runs += counts[3 * slot]
                successes += counts[3 * slot + 1]
                fast += counts[3 * slot + 2]
        return WindowTotals(runs, successes, fast, self.span)

    def __len__(self) -> int:
        """Buckets held (the ring's size: memory does not grow with the rate)."""
        return self._size
