"""Log lines a client can cause, at most one per period, each saying how many it stands for."""

from __future__ import annotations

import logging
import time


class Throttled:
    """One line per ``period`` seconds at ``level``; the rest are counted into the next line.

    A hostile client can make a bad request a thousand times a second; the log must not
    grow with it, and it must never carry a traceback the client chose to cause.
    """

    def __init__(self, log: logging.Logger, level: int, period: float = 10.0) -> None:
        self.log, self.level, self.period = log, level, period
        self._next = 0.0
        self._held = 0
        self.total = 0

    def note(self, message: str, *args: object) -> None:
        self.total += 1
        if not self.log.isEnabledFor(self.level):
            return
        now = time.monotonic()
        if now < self._next:
            self._held += 1
            return
        held, self._held, self._next = self._held, 0, now + self.period
        suffix = f" (and {held} more like it in the last {self.period:g}s)" if held else ""
        self.log.log(self.level, message + suffix, *args)
