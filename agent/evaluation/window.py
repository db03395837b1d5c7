"""A rolling window of runs in fixed time buckets: bounded memory whatever the probe rate.

One bucket per ``step`` seconds (a minute by default) holds counts only: runs, successes, and
successful runs within the latency limit. The buckets are a ring of machine integers, a few
hundred bytes an integration however often its probes run, and the window keeps their sums as
runs arrive and buckets leave, so asking for the totals costs the same with one run or a
million.
"""

from __future__ import annotations

from array import array

from agent.policies.base import WindowTotals


class RollingWindow:
    __slots__ = (
        "_counts",
        "_index",
        "_kept_from",
        "_size",
        "_sums",
        "latency_limit",
        "span",
        "step",
    )

    def __init__(self, span: float, latency_limit: float, step: float = 60.0) -> None:
        self.span = span
        self.latency_limit = latency_limit
        self.step = min(step, span)
        self._size = int(span // self.step) + 1
        self._index = array("q", [-1] * self._size)  # which bucket each slot holds (start/step)
        self._counts = array("I", bytes(4 * 3 * self._size))  # runs, successes, fast per slot
        self._sums = [0, 0, 0]  # of the buckets from ``_kept_from`` on
        self._kept_from = 0  # buckets before this one are out of the sums

    def add(self, at: float, success: bool, duration: float) -> None:
        bucket = int(at // self.step)
        if bucket < self._kept_from:
            return  # older than the window still counts
        slot = bucket % self._size
        held = self._index[slot]
        if held != bucket:
            if held > bucket:
                return  # older than anything the ring still holds
            if held >= self._kept_from:
                self._forget(slot)
            self._index[slot] = bucket
            self._counts[3 * slot : 3 * slot + 3] = array("I", (0, 0, 0))
        fast = success and duration <= self.latency_limit
        for offset, counted in enumerate((True, success, fast)):
            if counted:
                self._counts[3 * slot + offset] += 1
                self._sums[offset] += 1

    def totals(self, now: float) -> WindowTotals:
        """Counts of the buckets that overlap the last ``span`` seconds."""
        oldest = int((now - self.span) // self.step)  # a bucket ending after this overlaps
        if oldest > self._kept_from:  # at most once a step: the buckets that just left
            for slot, bucket in enumerate(self._index):
                if self._kept_from <= bucket < oldest:
                    self._forget(slot)
            self._kept_from = oldest
        runs, successes, fast = self._sums
        return WindowTotals(runs, successes, fast, self.span)

    def _forget(self, slot: int) -> None:
        for offset in range(3):
            self._sums[offset] -= self._counts[3 * slot + offset]

    def __len__(self) -> int:
        """Buckets held (the ring's size: memory does not grow with the rate)."""
        return self._size
