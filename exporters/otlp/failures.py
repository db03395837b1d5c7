"""Export failures counted from the exporters' own results, and logged without flooding.

The SDK's flush reports success even when the export behind it failed, and its exporters log
every failed attempt; neither tells an operator how much was lost. Every export therefore goes
through ``ExportFailures.run``, which counts each failed or refused export
(``oversight_export_failures_total{exporter,signal}``), logs the first failure of an outage,
a reminder at most once a minute while it lasts, and the recovery.

Counted per attempted export, not per completed one: a collector that accepts and never
answers holds an export for its whole timeout (with the SDK's retries, 10 s and more), while
exports fall due every interval. Each export that falls due while the one before is still
waiting could not be attempted and counts as failed as soon as it is due, so a black-holed
collector shows within one export interval. Spans the batch queue had no room for are counted
apart, as drops (``oversight_export_dropped_total``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("oversight.otel")

REMIND_EVERY = 60.0  # seconds between "still failing" lines
SDK_LOG_EVERY = 300.0  # seconds between two identical lines from the SDK's exporters
# Items a span or log queue holds while its signal's exports fail. The configured size absorbs
# a burst; for a collector that is away it would only hold what is dropped later, at about
# 3 KB a span for as long as it stays away.
AWAY_QUEUE = 256
# Seconds an export may wait before its collector counts as away for the queues' sake: a
# collector answers in milliseconds, and the SDK retries a refused export for up to its
# timeout before it reports the failure.
STALLED = 1.0

# Loggers of the SDK code that runs for every export attempt.
SDK_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc._log_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.metrics._internal.instrument",
)


@dataclass(slots=True)
class _Streak:
    failures: int = 0
    since: float = 0.0
    reminded: float = 0.0


class ExportFailures:
    """Counts by (exporter, signal). Exports run in worker threads and the event loop reads
    ``counts()``, hence the lock. After ``close_at(deadline)`` passes, exports are refused
    at once (and counted): stopping the agent never waits on a collector that is away.
    """

    def __init__(self, exporter: str = "otlp", clock: Callable[[], float] = time.monotonic):
        self.exporter = exporter
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._dropped: dict[tuple[str, str], int] = {}
        self._every: dict[str, float] = {}  # signal -> seconds between two exports due
        self._running: dict[str, float] = {}  # signal -> when its export in flight began
        self._streaks: dict[str, _Streak] = {}
        self._deadline: float | None = None

    def track(self, signal: str, every: float | None = None) -> None:
        """Show the signal's counter at 0 from the start, so rate() works from the first
        scrape; ``every``: seconds between two exports due (each one due while an export is
        still waiting counts as failed)."""
        with self._lock:
            self._counts.setdefault((self.exporter, signal), 0)
            if every:
                self._every[signal] = every

    def counts(self) -> dict[tuple[str, str], int]:
        """Failed exports, and those due while an earlier one was still waiting, so far."""
        now = self._clock()
        with self._lock:
            counts = dict(self._counts)
            for signal, began in self._running.items():
                key = (self.exporter, signal)
                counts[key] = counts.get(key, 0) + self._overdue(signal, now - began)
            return counts

    def drop(self, signal: str, count: int = 1) -> None:
        """``count`` items of ``signal`` dropped before export (a full queue)."""
        with self._lock:
            key = (self.exporter, signal)
            self._dropped[key] = self._dropped.get(key, 0) + count

    def dropped(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._dropped)

    def _overdue(self, signal: str, seconds: float) -> int:
        """Exports that fell due while one waited ``seconds``: none could be attempted."""
        every = self._every.get(signal)
        return int(seconds // every) if every else 0

    def bound(self, signal: str, capacity: int) -> int:
        """The items the signal's queue may hold now: ``capacity``, or ``AWAY_QUEUE`` while
        it is failing."""
        if capacity > AWAY_QUEUE and self.failing(signal):
            return AWAY_QUEUE
        return capacity

    def failing(self, signal: str) -> bool:
        """The signal's last export failed, or the one in flight has waited over ``STALLED``
        seconds: its collector is away, refusing or not answering."""
        now = self._clock()
        with self._lock:
            began = self._running.get(signal)
            return signal in self._streaks or (began is not None and now - began > STALLED)

    def close_at(self, deadline: float) -> None:
        self._deadline = deadline

    @property
    def closed(self) -> bool:
        return self._deadline is not None and self._clock() >= self._deadline

    def run(self, signal: str, where: str, export: Callable[[], bool], items: int = 1) -> bool:
        """Call ``export`` (True on success), count and log the outcome; never raises. A
        failure counts ``items``: 1 an export, or (audit records) the records it carried.

        While stopping, a signal whose last export failed is not tried again: the collector
        is away, and each attempt could take the whole export timeout.
        """
        if self.closed:
            self._failed(signal, where, "shutting down: the flush deadline has passed", items)
            return False
        if self._deadline is not None and signal in self._streaks:
            self._failed(signal, where, "shutting down and the collector is not answering", items)
            return False
        began = self._clock()
        with self._lock:
            self._running.setdefault(signal, began)
        try:
            ok = export()
        except Exception as exc:  # an exporter's bug must not stop the worker thread
            log.debug("OTLP %s export raised", signal, exc_info=True)
            ok, why = False, f"{type(exc).__name__}: {exc}"
        else:
            why = "the exporter reported failure"
        finally:
            self._settle(signal, began)
        if ok:
            self._succeeded(signal, where)
        else:
            self._failed(signal, where, why, items)
        return ok

    def _settle(self, signal: str, began: float) -> None:
        """The export is over: the exports that fell due meanwhile stay counted as failed."""
        with self._lock:
            if self._running.get(signal) == began:
                del self._running[signal]
            overdue = self._overdue(signal, self._clock() - began)
            if overdue:
                key = (self.exporter, signal)
                self._counts[key] = self._counts.get(key, 0) + overdue

    def lost(self, signal: str, where: str, items: int, why: str) -> None:
        """``items`` never handed to an exporter (audit records over the queue's bound):
        counted as failures are, since they will not reach the collector either."""
        if items:
            self._failed(signal, where, why, items)

    def _failed(self, signal: str, where: str, why: str, items: int = 1) -> None:
        now = self._clock()
        with self._lock:
            key = (self.exporter, signal)
            self._counts[key] = self._counts.get(key, 0) + items
            streak = self._streaks.setdefault(signal, _Streak())
            streak.failures += 1
            first = streak.failures == 1
            if first:
                streak.since = streak.reminded = now
            remind = not first and now - streak.reminded >= REMIND_EVERY
            if remind:
                streak.reminded = now
            failures, since = streak.failures, streak.since
        if first:
            log.warning(
                "OTLP %s export to %s failed (%s); data is dropped until the collector answers, "
                "export resumes by itself; counted in oversight_export_failures_total",
                signal,
                where,
                why,
            )
        elif remind:
            log.warning(
                "OTLP %s export to %s still failing: %d failed exports in %.0fs (%s)",
                signal,
                where,
                failures,
                now - since,
                why,
            )

    def _succeeded(self, signal: str, where: str) -> None:
        with self._lock:
            streak = self._streaks.pop(signal, None)
        if streak is not None and streak.failures:
            log.info(
                "OTLP %s export to %s resumed after %d failed exports in %.0fs",
                signal,
                where,
                streak.failures,
                self._clock() - streak.since,
            )


class _Throttle(logging.Filter):
    """Lets one record per (level, message template) through every ``every`` seconds."""

    def __init__(self, every: float) -> None:
        super().__init__()
        self._every = every
        self._last: dict[tuple[int, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.levelno, str(record.msg))
        now = time.monotonic()
        if now - self._last.get(key, -self._every) < self._every:
            return False
        if len(self._last) > 256:  # templates are few; keep the map small regardless
            self._last.clear()
        self._last[key] = now
        return True


def throttle_sdk_logs(every: float = SDK_LOG_EVERY) -> None:
    """Quiet the SDK's per-attempt lines (``Transient error ... retrying``, ``Failed to
    export``): the first of each kind still shows, ``ExportFailures`` reports the rest.
    Loggers are process-wide, so this is idempotent rather than per App.
    """
    for name in SDK_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Throttle) for f in logger.filters):
            logger.addFilter(_Throttle(every))


class Once:
    """Calls ``call`` the first time only, from whichever thread comes first: an exporter that
    both the SDK's processor and its owner shut down is closed once."""

    def __init__(self, call: Callable[[], object]) -> None:
        self._call = call
        self._lock = threading.Lock()
        self._done = False

    def __call__(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._call()
