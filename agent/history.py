"""The last runs of each probe, compact: what the status page's bars and the probe API show.

A probe keeps its last ``size`` runs (``agent.history``, 60 by default) in one ring of packed
entries, 9 bytes a run: the start in whole unix seconds, the duration as a 32-bit float and
one byte for the outcome (passed, passed over a threshold, or failed and why). A full ring of
60 costs about 700 bytes with its objects (tests/agent/test_history.py measures it), however
long the agent runs; the full Result of a run lives only as long as it is the latest.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from agent.results import Reason, Result

DEFAULT_SIZE = 60
_ENTRY = struct.Struct("<IfB")  # started (unix seconds), duration (seconds), outcome
_PASSED, _BREACHED = 0, 1  # outcomes; a failure is 2 + its reason's index
_REASONS = tuple(Reason)


@dataclass(frozen=True, slots=True)
class Run:
    """One kept run: when it started (whole seconds), how long it took, how it went."""

    started: int
    duration: float
    success: bool
    reason: Reason | None = None  # why it failed
    breached: bool = False  # it passed but crossed a threshold


def _outcome(result: Result) -> int:
    if result.success:
        return _BREACHED if result.breaches else _PASSED
    return 2 + _REASONS.index(result.reason or Reason.INTERNAL_ERROR)


def _run(started: int, duration: float, outcome: int) -> Run:
    if outcome == _PASSED:
        return Run(started, duration, True)
    if outcome == _BREACHED:
        return Run(started, duration, True, breached=True)
    return Run(started, duration, False, _REASONS[outcome - 2])


class RunHistory:
    """A ring of a probe's last runs, oldest overwritten first. Only the store writes it."""

    __slots__ = ("_buffer", "_count", "_next", "_passed", "size")

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError(f"a history keeps at least one run, not {size}")
        self.size = size
        self._buffer = bytearray(size * _ENTRY.size)
        self._next = 0  # the slot the next run goes to
        self._count = 0  # runs held (at most size)
        self._passed = 0  # of those, the ones that passed

    def add(self, result: Result) -> None:
        if self._count == self.size:
            _, _, oldest = _ENTRY.unpack_from(self._buffer, self._next * _ENTRY.size)
            self._passed -= oldest <= _BREACHED
        else:
            self._count += 1
        outcome = _outcome(result)
        self._passed += outcome <= _BREACHED
        started = min(max(int(result.started), 0), 0xFFFFFFFF)
        _ENTRY.pack_into(self._buffer, self._next * _ENTRY.size, started, result.duration, outcome)
        self._next = (self._next + 1) % self.size

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Run]:
        """The runs held, oldest first."""
        for entry in self._entries():
            yield _run(*entry)

    @property
    def passed(self) -> int:
        return self._passed

    @property
    def uptime(self) -> float | None:
        """The share of the kept runs that passed (None before the first run)."""
        return self._passed / self._count if self._count else None

    def resized(self, size: int) -> RunHistory:
        """A ring of ``size`` holding the newest of these runs (a reload changed the size)."""
        ring = RunHistory(size)
        runs = list(self._entries())[-size:]
        for i, entry in enumerate(runs):
            _ENTRY.pack_into(ring._buffer, i * _ENTRY.size, *entry)
            ring._passed += entry[2] <= _BREACHED
        ring._count = len(runs)
        ring._next = len(runs) % size
        return ring

    def _entries(self) -> Iterator[tuple[int, float, int]]:
        first = (self._next - self._count) % self.size
        for i in range(self._count):
            yield _ENTRY.unpack_from(self._buffer, (first + i) % self.size * _ENTRY.size)

    def columns(self) -> tuple[list[int], list[float], list[bool], list[str | None], list[bool]]:
        """The runs held, oldest first, as columns: started, duration, success, reason (its
        value, None when it passed) and breached. Faster than building a Run each."""
        entries = list(self._entries())
        outcomes = [e[2] for e in entries]
        return (
            [e[0] for e in entries],
            [e[1] for e in entries],
            [o <= _BREACHED for o in outcomes],
            [None if o <= _BREACHED else _REASONS[o - 2].value for o in outcomes],
            [o == _BREACHED for o in outcomes],
        )
