"""OTLP traces: one span per probe run, its phases as child spans, its trace context sent along.

A run's root span starts just before the run, so its W3C ``traceparent`` can go out with the
request and the target's own spans join the trace. Whether the span is exported is decided
when the run is over: failed runs always are, successful ones at ``success_ratio`` (decided
from the trace id, as TraceIdRatioBased does). A span that is not kept is never ended, so no
processor sees it, and its trace id is taken off the Result so no exemplar points to it.
The traceparent always says "sampled": the target records its side of every probe.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from agent import __version__
from agent import vocabulary as v
from agent.plan import ProbePlan
from agent.probers import REGISTRY
from agent.probers.base import StepSpan
from agent.results import Result, StepResult
from agent.vocabulary import PROBE_LABELS, Detail
from exporters.otlp.failures import ExportFailures, Once

# Spans per export. Smaller than the SDK's 512: encoding a batch holds the GIL, and a large
# one stalls the event loop for long enough to delay probe runs at a few hundred runs/s.
MAX_BATCH = 128
_PROPAGATOR = TraceContextTextMapPropagator()


class CountingSpanExporter(SpanExporter):
    """A span exporter whose every export goes through ``ExportFailures.run``."""

    def __init__(self, inner: SpanExporter, failures: ExportFailures, where: str) -> None:
        self._inner = inner
        self._failures = failures
        self._where = where
        self._close = Once(inner.shutdown)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = self._failures.run(
            "traces", self._where, lambda: self._inner.export(spans) is SpanExportResult.SUCCESS
        )
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        """Close the inner exporter once; a second call (the processor's) is a no-op."""
        self._close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # nothing is buffered here


class CountingBatchProcessor(BatchSpanProcessor):
    """The SDK's batch processor, counting the spans its full queue drops.

    The SDK drops the oldest span when a span ends with the queue full, and says so only in
    its own (opt-in) self-metrics; here each such span is counted in ``ExportFailures.drop``.
    While exports fail, the queue is kept to ``AWAY_QUEUE`` spans: a newer span is dropped
    (and counted) rather than held for a collector that is away.
    The queue's length is read from the SDK's batch processor: if a later SDK moves it, the
    drops go uncounted (the test of this class says so) but nothing else changes.
    """

    def __init__(self, exporter: SpanExporter, failures: ExportFailures, **options: Any) -> None:
        super().__init__(exporter, **options)
        self._failures = failures
        self._capacity = options["max_queue_size"]
        self._queue: Sequence[Any] | None = getattr(self._batch_processor, "_queue", None)

    @property
    def queued(self) -> int:
        """Spans waiting for an export (0 if the SDK's queue cannot be read)."""
        return 0 if self._queue is None else len(self._queue)

    def on_end(self, span: ReadableSpan) -> None:
        queue = self._queue
        if queue is not None:
            bound = self._failures.bound("traces", self._capacity)
            if len(queue) >= bound:
                self._failures.drop("traces")
                if bound < self._capacity:
                    return  # the SDK would drop the oldest only at its own, larger bound
        super().on_end(span)


class _TracedStep:
    """One step's span: started when the step starts (its traceparent goes out with the
    step's request), ended by ``TracedRun.finish`` only if the run is kept."""

    def __init__(self, span: Any, headers: Mapping[str, str]) -> None:
        self.span = span
        self.headers = headers
        self.ended: int | None = None  # unix ns
        self.outcome: StepResult | None = None

    def end(self, step: StepResult) -> None:
        self.ended, self.outcome = time.time_ns(), step

    def close(self, run_end: int) -> None:
        """End the span (at the run's end if the step never finished: cut by the deadline).

        Only the step's reason goes on the span, never its message: the run's root span
        carries the message, scrubbed of what the run captured.
        """
        step = self.outcome
        if step is None:
            self.span.set_attribute("error.type", "timeout")
            self.span.set_status(Status(StatusCode.ERROR, "timeout"))
        else:
            if step.status is not None:
                self.span.set_attribute("http.response.status_code", step.status)
            self.span.set_attribute("oversight.step.requests", step.requests)
            if not step.success and step.reason is not None:
                self.span.set_attribute("error.type", step.reason.value)
                self.span.set_status(Status(StatusCode.ERROR, step.reason.value))
        self.span.end(end_time=min(self.ended or run_end, run_end))


class TracedRun:
    """The trace side of one run (an ``agent.outputs.RunTrace``): a root span started just
    before the run, its W3C headers, and ``context`` once the span is kept (for exemplars).
    A multi-step run (a flow) starts a child span per step through ``step``."""

    def __init__(self, traces: OtelTraces, probe: ProbePlan, span: Any) -> None:
        self._traces = traces
        self._probe = probe
        self._span = span
        self._context = trace.set_span_in_context(span, Context())
        self._trace_id = span.get_span_context().trace_id
        self.trace_id: str | None = format(self._trace_id, "032x")
        self.context: Context | None = None
        self.headers: Mapping[str, str] = {}
        self._steps: list[_TracedStep] = []
        if traces.propagate:
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier, context=self._context)
            self.headers = carrier

    def step(self, name: str, attributes: Mapping[str, Any]) -> StepSpan:
        """A child span for one step, started now; its traceparent is the step's own."""
        scrub = self._traces.scrub
        span = self._traces.tracer.start_span(
            name,
            context=self._context,
            kind=SpanKind.CLIENT,
            attributes={k: scrub(a) if isinstance(a, str) else a for k, a in attributes.items()},
        )
        headers: dict[str, str] = {}
        if self._traces.propagate:
            _PROPAGATOR.inject(headers, context=trace.set_span_in_context(span, self._context))
        traced = _TracedStep(span, headers)
        self._steps.append(traced)
        return traced

    def finish(self, result: Result) -> Result:
        """End the span tree if the run is kept; return the Result with the trace id only then.

        Child spans are laid out from the phase durations: the runner records how long each
        phase took, in order (resolve, connect, tls, processing, transfer), not when it
        started. Each child starts where the previous one ended, the first at the run's
        start, so durations are exact while starts ignore any gap between phases; a child
        never outlasts the run.
        """
        if not self._traces.keep(result, self._trace_id):
            return dataclasses.replace(result, trace_id=None)
        span, scrub = self._span, self._traces.scrub
        start = int(result.started * 1e9)
        end = start + int(result.duration * 1e9)
        cursor = start
        for phase, seconds in result.phases:
            child_end = min(cursor + int(seconds * 1e9), end)
            child = self._traces.tracer.start_span(
                phase,
                context=self._context,
                kind=SpanKind.INTERNAL,
                start_time=cursor,
                attributes={"oversight.phase": phase},
            )
            child.end(end_time=child_end)
            cursor = child_end
        for step in self._steps:
            step.close(end)
        span.set_attributes(result_attributes(result))
        for breach in result.breaches:
            span.add_event(
                "threshold breached",
                {
                    "oversight.signal": breach.signal,
                    "oversight.severity": breach.severity.value,
                    "oversight.value": breach.value,
                    "oversight.limit": breach.limit,
                },
                timestamp=end,
            )
        for outcome in result.conditions:
            if not outcome.success:
                span.add_event(
                    "condition failed", {"oversight.observed": scrub(outcome.observed)}, end
                )
        if not result.success:
            span.set_status(Status(StatusCode.ERROR, scrub(result.message or str(result.reason))))
        span.end(end_time=end)
        self.context = self._context
        return result


class OtelTraces:
    """The trace pipeline of one App: provider, bounded batch processor, counting exporter."""

    def __init__(
        self,
        exporter: SpanExporter,
        resource: Resource,
        failures: ExportFailures,
        where: str,
        *,
        success_ratio: float,
        max_queue_size: int,
        schedule_delay: float,
        propagate: bool,
        scrub: Callable[[str], str],
    ) -> None:
        self.exporter = CountingSpanExporter(exporter, failures, where)
        self.processor = CountingBatchProcessor(
            self.exporter,
            failures,
            max_queue_size=max_queue_size,
            schedule_delay_millis=schedule_delay * 1000,
            max_export_batch_size=min(MAX_BATCH, max_queue_size),
        )
        self.rename(resource)
        self.propagate = propagate
        self.scrub = scrub
        self._bound = round(success_ratio * (1 << 64))

    def start_run(self, probe: ProbePlan) -> TracedRun:
        span = self.tracer.start_span(
            f"{probe.kind} {probe.id}",
            context=Context(),  # a root span whatever the caller's context holds
            kind=SpanKind.CLIENT if REGISTRY[probe.kind].network else SpanKind.INTERNAL,
            attributes=probe_attributes(probe, self.scrub),
        )
        return TracedRun(self, probe, span)

    def rename(self, resource: Resource) -> None:
        """Spans from now on carry ``resource``; the queue, the exporter and its connection
        stay. A provider's resource is fixed, so a new one takes the processor; the old one
        has no thread, and goes once the spans it started have ended."""
        self.provider = TracerProvider(resource=resource, sampler=ALWAYS_ON, shutdown_on_exit=False)
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("oversight", __version__)

    def keep(self, result: Result, trace_id: int) -> bool:
        return not result.success or (trace_id & ((1 << 64) - 1)) < self._bound

    def shutdown(self) -> None:
        self.provider.shutdown()


def probe_attributes(probe: ProbePlan, scrub: Callable[[str], str]) -> dict[str, Any]:
    """What is known before the run: who the probe is and where it goes (no credentials)."""
    attrs: dict[str, Any] = {
        f"oversight.{label}": value for label, value in zip(PROBE_LABELS, probe.labels, strict=True)
    }
    attrs["oversight.probe.kind"] = probe.kind
    spec = REGISTRY[probe.kind]
    where = spec.endpoint(probe.settings)
    if where is not None:
        if where.url:
            attrs["url.full"] = scrub(where.url)
            attrs["url.scheme"] = urlsplit(where.url).scheme
        if where.host:
            attrs["server.address"] = where.host
        if where.port:
            attrs["server.port"] = where.port
    attrs.update(spec.attributes(probe.settings))
    return attrs


def result_attributes(result: Result) -> dict[str, Any]:
    """What the run observed, under semantic-convention names where there is one."""
    attrs: dict[str, Any] = {}
    status = result.value(v.HTTP_STATUS_CODE)
    if status is not None:
        attrs["http.response.status_code"] = int(status)
    version = result.value(v.HTTP_VERSION)
    if version is not None:
        attrs["network.protocol.name"] = "http"
        attrs["network.protocol.version"] = f"{version:g}"  # 1.1, 2
    tls = result.info_value(Detail.TLS_VERSION)
    if tls:
        attrs["tls.protocol.name"] = "tls"
        attrs["tls.protocol.version"] = tls.removeprefix("TLS").strip()
    if not result.success and result.reason is not None:
        attrs["error.type"] = result.reason.value
        attrs["oversight.failure.reason"] = result.reason.value
    if result.attempts > 1:
        attrs["oversight.attempts"] = result.attempts
    if result.cause is not None:
        attrs["oversight.failure.cause"] = result.cause
    failed = next((s for s in result.steps if not s.success), None)
    if failed is not None:
        attrs["oversight.failure.step"] = failed.name
    return attrs
