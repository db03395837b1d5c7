"""OTLP logs: each audit record, once written to the local trail, as an OpenTelemetry log record.

A Collector puts them in the bank's log store, where they outlive the pod and its volume. The
chain fields are attributes (``oversight.audit.seq``, ``.time``, ``.type``, ``.subject``,
``.details`` as JSON, ``.prev``, ``.hash``) beside ``oversight.agent``, whose chain it is, so
``oversight audit verify`` can check the chain from an export of that store
(agent/audit/export.py). The body is a line for people: the type and the subject.

The local file stays the record of truth: a record is shipped only after it is written and
fsynced there, and shipping never waits on the collector. At most ``max_queue_size`` records
wait for it (in the SDK's batch processor, exported from its thread), ``AWAY_QUEUE`` while its
exports fail; a record that finds them all waiting is dropped, and every record that does not
reach the collector, dropped or in a failed export, counts in
``oversight_export_failures_total{exporter="otlp",signal="logs"}``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.resources import Resource

from agent import __version__
from agent.audit.chain import Record
from exporters.otlp.failures import ExportFailures, Once

PREFIX = "oversight.audit."  # the chain fields' attribute names: PREFIX + field
AGENT = "oversight.agent"  # whose chain the record belongs to
MAX_BATCH = 256  # records per export
# Events an auditor wants to see first: logged at WARN, the others at INFO.
WARNINGS = frozenset({"security_event", "config_reload_failed", "audit_events_dropped"})


def attributes(record: Record, agent: str) -> dict[str, Any]:
    """The record's chain fields as log attributes (``details`` as compact JSON)."""
    return {
        AGENT: agent,
        PREFIX + "seq": record.seq,
        PREFIX + "time": record.time,
        PREFIX + "type": record.type,
        PREFIX + "subject": record.subject,
        PREFIX + "details": json.dumps(record.details, separators=(",", ":"), ensure_ascii=False),
        PREFIX + "prev": record.prev,
        PREFIX + "hash": record.hash,
    }


def _nanoseconds(moment: str) -> int | None:
    try:
        return int(datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp() * 1e9)
    except ValueError:
        return None


class CountingLogExporter(LogRecordExporter):
    """A log exporter whose every export goes through ``ExportFailures.run``, counting the
    records of a failed export, and that tells its owner how many records left the queue."""

    def __init__(
        self, inner: LogRecordExporter, failures: ExportFailures, where: str, owner: OtelAuditLogs
    ) -> None:
        self._inner = inner
        self._failures = failures
        self._where = where
        self._owner = owner
        self._close = Once(inner.shutdown)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        try:
            ok = self._failures.run(
                "logs",
                self._where,
                lambda: self._inner.export(batch) is LogRecordExportResult.SUCCESS,
                items=len(batch),
            )
        finally:
            self._owner.settled(len(batch))
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        """Close the inner exporter once; a second call (the processor's) is a no-op."""
        self._close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # nothing is buffered here


class OtelAuditLogs:
    """The log pipeline of one App: provider, bounded batch processor, counting exporter.

    Admission is counted here: a record is taken only while fewer than ``max_queue_size`` are
    waiting or being exported, so the processor's own queue never overflows (it would drop the
    oldest silently) and every record refused is counted as dropped.
    """

    def __init__(
        self,
        exporter: LogRecordExporter,
        resource: Resource,
        failures: ExportFailures,
        where: str,
        *,
        agent: str,
        max_queue_size: int,
        schedule_delay: float,
    ) -> None:
        self._failures = failures
        self._where = where
        self._agent = agent
        self._limit = max_queue_size
        self._lock = threading.Lock()
        self._outstanding = 0  # handed to the processor, not yet exported (or failed)
        self.exporter = CountingLogExporter(exporter, failures, where, self)
        self.processor = BatchLogRecordProcessor(
            self.exporter,
            schedule_delay_millis=schedule_delay * 1000,
            max_export_batch_size=min(MAX_BATCH, max_queue_size),
            max_queue_size=max_queue_size,
        )
        self.rename(resource, agent)

    def rename(self, resource: Resource, agent: str) -> None:
        """Records from now on carry ``resource`` and ``agent``; the queue and the exporter
        stay (a provider's resource is fixed: a new one takes the processor)."""
        self._agent = agent
        self.provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        self.provider.add_log_record_processor(self.processor)
        self.logger = self.provider.get_logger("oversight.audit", __version__)

    @property
    def outstanding(self) -> int:
        with self._lock:
            return self._outstanding

    def settled(self, count: int) -> None:
        """``count`` records left the queue (exported, or counted as failed)."""
        with self._lock:
            self._outstanding -= count

    def ship(self, records: Sequence[Record]) -> None:
        """Hand the records to the processor; never blocks. Over the bound, drop and count."""
        dropped = 0
        limit = self._failures.bound("logs", self._limit)
        for record in records:
            with self._lock:
                if self._outstanding >= limit:
                    dropped += 1
                    continue
                self._outstanding += 1
            warning = record.type in WARNINGS
            self.logger.emit(
                timestamp=_nanoseconds(record.time),
                context=Context(),  # no trace: an audit record belongs to no probe run
                severity_number=SeverityNumber.WARN if warning else SeverityNumber.INFO,
                severity_text="WARN" if warning else "INFO",
                body=f"{record.type} {record.subject}",
                attributes=attributes(record, self._agent),
            )
        self._failures.lost("logs", self._where, dropped, f"{limit} audit records already waiting")

    def shutdown(self) -> None:
        """Export what is queued (the processor waits for its thread), then close."""
        self.provider.shutdown()
