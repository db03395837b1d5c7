"""The OTLP output: metrics, traces and audit records of one App, started and stopped with it.

Off unless the config or the environment asks for it; when off the SDK is not even imported
(the pipelines' modules are loaded in ``start``, on purpose: they cost tens of MiB).
Nothing here touches the SDK's global providers: every provider is passed explicitly, so two
Apps in one process (tests do this) export independently. A collector that is down, slow or
refusing costs the agent bounded memory (one metrics round, ``max_queue_size`` spans and as
many audit records, ``AWAY_QUEUE`` of each once it is known away) and never a probe: exports
run in worker threads, collection and span bookkeeping on the loop are in-memory only, and
stopping waits ``shutdown_timeout`` at most.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agent.audit.chain import Record
from agent.outputs import BaseOutput, RunTrace
from agent.plan import Plan, ProbePlan
from agent.results import Result
from agent.snapshot import Snapshot
from agent.vocabulary import PROBE_LABELS
from exporters.otlp.failures import ExportFailures, throttle_sdk_logs
from exporters.otlp.settings import OtlpSettings, OtlpSettingsError, resolve

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource

    from exporters.otlp.logs import OtelAuditLogs
    from exporters.otlp.metrics import OtelMetrics
    from exporters.otlp.traces import OtelTraces

log = logging.getLogger("oversight.otel")

STOP_GRACE = 0.5  # seconds the loop waits past the flush deadline before giving up


class OtlpOutput(BaseOutput):
    """``start_run`` / ``on_result`` around each probe run; ``start`` / ``stop`` with the App.

    Built anew by the App when ``exporters.otlp`` changes on a reload; a new agent name is
    taken on in place (``on_reload``).
    """

    name = "otlp"

    def __init__(
        self,
        plan: Plan,
        snapshot: Callable[[], Snapshot],
        scrub: Callable[[str], str],
        env: Mapping[str, str],
    ) -> None:
        self._plan = plan
        self._snapshot = snapshot
        self._scrub = scrub
        self._env = dict(env)
        self.exports = ExportFailures()
        self.settings: OtlpSettings | None = None
        self.metrics: OtelMetrics | None = None
        self.traces: OtelTraces | None = None
        self.logs: OtelAuditLogs | None = None
        self._task: asyncio.Task[None] | None = None
        try:
            self.settings = resolve(plan.exporters.otlp, self._env)
        except OtlpSettingsError as error:
            log.error("OTLP export is off: %s", error)

    @property
    def active(self) -> bool:
        return self.metrics is not None or self.traces is not None or self.logs is not None

    def start(self) -> None:
        """Build the pipelines and start collecting; a setting that cannot work is logged and
        leaves OTLP off (probing and /metrics carry on)."""
        settings = self.settings
        if settings is None or self.active:
            return
        try:
            self._build(settings)
        except Exception as error:  # a bad CA path, an SDK refusing an option
            log.error("OTLP export is off: %s", error)
            self.metrics = self.traces = self.logs = None
            return
        throttle_sdk_logs()
        if self.metrics is not None:
            self._task = asyncio.create_task(self._collect_forever(settings.metric_interval))

    def _build(self, settings: OtlpSettings) -> None:
        from exporters.otlp.logs import OtelAuditLogs
        from exporters.otlp.metrics import OtelMetrics
        from exporters.otlp.traces import OtelTraces
        from exporters.otlp.transport import log_exporter, metric_exporter, span_exporter
        from exporters.prometheus.collector import SnapshotCollector

        plan = self._plan
        agent, resource = self._resource(settings)
        if settings.metrics is not None:
            target = settings.metrics
            self.metrics = OtelMetrics(
                metric_exporter(target),
                resource,
                self.exports,
                target.display,
                target.timeout,
                SnapshotCollector(self._snapshot).collect_stepped,
                self._snapshot().agent.started,  # the counters count from there
            )
            self.exports.track("metrics", settings.metric_interval)
            log.info("OTLP metrics to %s every %gs", target.display, settings.metric_interval)
        if settings.traces is not None:
            target = settings.traces
            self.traces = OtelTraces(
                span_exporter(target),
                resource,
                self.exports,
                target.display,
                success_ratio=settings.success_ratio,
                max_queue_size=settings.max_queue_size,
                schedule_delay=settings.span_delay,
                propagate=settings.propagate,
                scrub=self._scrub,
            )
            self.exports.track("traces", settings.span_delay)
            self.exports.drop("traces", 0)  # shown at 0 from the start, as the failures are
            log.info(
                "OTLP traces to %s (successful runs: %g%%, failed: all)",
                target.display,
                settings.success_ratio * 100,
            )
        if settings.logs is not None and plan.audit is not None:
            target = settings.logs
            self.logs = OtelAuditLogs(
                log_exporter(target),
                resource,
                self.exports,
                target.display,
                agent=agent,
                max_queue_size=settings.log_queue_size,
                schedule_delay=settings.log_delay,
            )
            self.exports.track("logs")
            log.info("OTLP logs (the audit trail's records) to %s", target.display)

    def _resource(self, settings: OtlpSettings) -> tuple[str, Resource]:
        """The agent's name and the resource that names it."""
        from exporters.otlp.resource import build_resource

        agent = dict(self._plan.const_labels).get("agent", "")
        return agent, build_resource(settings, self._env, agent)

    async def _collect_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.collect()

    async def collect(self) -> None:
        """One metrics collection, now; never raises (the loop must keep probing)."""
        if self.metrics is None:
            return
        try:
            await self.metrics.collect()
        except Exception:
            log.exception("OTLP metrics collection failed; trying again next interval")

    def start_run(self, probe: ProbePlan) -> RunTrace | None:
        return None if self.traces is None else self.traces.start_run(probe)

    def on_result(self, probe: ProbePlan, result: Result, trace: RunTrace) -> None:
        """Feed the duration histogram of a probe that exports one, with the run's span as
        exemplar when it was kept."""
        if self.metrics is None or not probe.histogram:
            return
        attributes = dict(zip(PROBE_LABELS, probe.labels, strict=True))
        attributes.update(self._plan.const_labels)
        self.metrics.record(result.duration, attributes, trace.context)

    def on_audit(self, records: Sequence[Record]) -> None:
        """Audit records just written to the local trail: shipped as log records."""
        if self.logs is not None:
            self.logs.ship(records)

    def on_reload(self, old: Plan, new: Plan) -> None:
        """A renamed agent is a renamed resource. The pipelines stay, with their queues,
        connections and counts: rebuilding them on each rename cost a final metrics round
        and fresh SDK objects, and reset ``oversight_export_failures_total``."""
        self._plan = new
        if new.const_labels == old.const_labels or self.settings is None or not self.active:
            return
        agent, resource = self._resource(self.settings)
        if self.metrics is not None:
            self.metrics.rename(resource)
        if self.traces is not None:
            self.traces.rename(resource)
        if self.logs is not None:
            self.logs.rename(resource, agent)

    def failures(self) -> dict[tuple[str, str], int]:
        return self.exports.counts() if self.active else {}

    def dropped(self) -> dict[tuple[str, str], int]:
        return self.exports.dropped() if self.active else {}

    async def stop(self) -> None:
        """Flush what is queued within ``shutdown_timeout``, then let go.

        The last metrics are collected here, on the loop. Exports still running at the
        deadline are cut short (gRPC calls are cancelled); any export after it is refused
        and counted. The worker threads are daemons, so a collector that never answers
        cannot hold the process either.
        """
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if not self.active or self.settings is None:
            return
        metrics, traces, logs = self.metrics, self.traces, self.logs
        self.metrics = self.traces = self.logs = None
        timeout = self.settings.shutdown_timeout
        deadline = time.monotonic() + timeout
        if metrics is not None:
            try:
                await metrics.collect(last=True)
            except Exception:
                log.exception("OTLP metrics: the last collection failed")
        self.exports.close_at(deadline)
        running = [
            asyncio.wrap_future(_daemon(work))
            for work in (
                (lambda: metrics.shutdown(timeout)) if metrics else None,
                traces.shutdown if traces else None,
                logs.shutdown if logs else None,
            )
            if work is not None
        ]
        cutoff = threading.Timer(timeout, _abort, (metrics, traces, logs))
        cutoff.daemon = True
        cutoff.start()
        _, unfinished = await asyncio.wait(running, timeout=timeout + STOP_GRACE)
        cutoff.cancel()
        for waiting in unfinished:
            waiting.cancel()
        if unfinished:
            log.warning("OTLP: gave up flushing after %gs; unsent telemetry is dropped", timeout)
        if logs is not None and logs.outstanding > 0:
            log.warning(
                "OTLP logs: %d audit records not sent before stopping (the local trail has them)",
                logs.outstanding,
            )


def _daemon(work: Callable[[], Any]) -> concurrent.futures.Future[None]:
    """Run ``work`` in a daemon thread (an executor's threads would be joined at exit)."""
    done: concurrent.futures.Future[None] = concurrent.futures.Future()

    def run() -> None:
        try:
            work()
        except Exception:
            log.exception("OTLP: shutting an exporter down failed")
        # stop() cancels the future when it gives up waiting: the work outlived its deadline
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            done.set_result(None)

    threading.Thread(target=run, name="oversight-otlp-shutdown", daemon=True).start()
    return done


def _abort(
    metrics: OtelMetrics | None, traces: OtelTraces | None, logs: OtelAuditLogs | None
) -> None:
    """At the deadline: close the exporters, which cancels a gRPC call in flight."""
    for close in (
        metrics.reader.abort if metrics else None,
        traces.exporter.shutdown if traces else None,
        logs.exporter.shutdown if logs else None,
    ):
        if close is not None:
            try:
                close()
            except Exception:
                log.debug("OTLP: closing an exporter failed", exc_info=True)
