"""OTLP metrics: every gauge and counter of /metrics, mirrored, plus the probe duration histogram.

Names, attribute keys and values are exactly those of /metrics (counters without ``_total``,
which OTLP expresses as a monotonic sum; the unit suffix also goes in the unit field), so the
Collector's Prometheus exporter turns them back into the same series and one dashboard serves
both paths. The gauges and counters are written as OTLP points straight from what the
Prometheus view builds from ``App.snapshot()`` (a family a later issue adds to /metrics is
exported over OTLP without another line here), not through the SDK's observable instruments:
those keep an aggregation, an attribute set and an exemplar reservoir per series, about 2 KB
each (50 MiB at a thousand integrations), to report values the view already holds.

The duration histogram is the exception, fed per result from ``App.run_probe``: the SDK has no
asynchronous histogram, and a synchronous one gives a correct OTLP histogram (cumulative,
with its start time, min, max and bucket counts over DURATION_BUCKETS) that also carries
exemplars, because each value is recorded in the context of its run's span.

Reading the snapshot runs on the event loop, where the store is consistent without locks, in
steps of a few hundred probes as /metrics does; the mirror keeps the view's samples. Building
the points, the SDK's collection of the histogram and the network export run in one worker
thread, told through a one-slot mailbox that a collection is due. Temporality is cumulative,
so a collection that falls due while an export still waits loses nothing: the next one carries
the same totals. Such a collection is not even read: while a collector is slow or away, the
agent holds one round's samples, not one waiting and one in flight.

A round goes out in requests of at most ``MAX_POINTS_PER_REQUEST`` points, built one at a time
from the samples, and the first request that fails ends the round. A collector that is away
then costs one request's wait (the SDK retries within the export timeout), not one per request
of the round, and the round's memory goes when it does.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.metrics import Histogram, MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from agent import __version__
from agent import vocabulary as n
from agent.vocabulary import DURATION_BUCKETS
from exporters.otlp.failures import ExportFailures, Once

log = logging.getLogger("oversight.otel")

# Series of the histogram before the SDK folds the rest into one overflow point (its default
# of 2000 is a few hundred probes).
CARDINALITY_LIMIT = 200_000
SCOPE = InstrumentationScope("oversight", __version__)
# Data points per request: the Collector refuses gRPC messages over 4 MiB by default.
MAX_POINTS_PER_REQUEST = 4096
_UNITS = (("_seconds", "s"), ("_bytes", "By"), ("_ratio", "1"))


def unit_of(name: str) -> str:
    """The UCUM unit a Prometheus name's suffix announces (``_seconds`` -> ``s``), or none."""
    return next((unit for suffix, unit in _UNITS if name.endswith(suffix)), "")


def split(metrics: Iterable[Metric], limit: int) -> Iterator[list[Metric]]:
    """``metrics`` in lists of at most ``limit`` points, taken as they come. A family larger
    than what a request has room for is cut, each part a metric of the same name and kind."""
    batch: list[Metric] = []
    room = limit
    for metric in metrics:
        points = metric.data.data_points
        start = 0
        while start < len(points):
            part = points[start : start + room]
            whole = len(part) == len(points)
            data: Any = metric.data
            batch.append(metric if whole else replace(metric, data=replace(data, data_points=part)))
            start += len(part)
            room -= len(part)
            if room == 0:
                yield batch
                batch, room = [], limit
    if batch:
        yield batch


class LoopReader(MetricReader):
    """``collect()`` is called on the event loop; a worker thread exports what it gathered."""

    def __init__(
        self,
        exporter: MetricExporter,
        failures: ExportFailures,
        where: str,
        timeout: float,
        resource: Resource,
        mirrored: Callable[[int], Iterable[Metric]],
    ) -> None:
        limits: Any = {Histogram: CARDINALITY_LIMIT}
        super().__init__(cardinality_limits=limits)
        self.resource = resource  # of every point sent, the histogram's included
        self._mirrored = mirrored
        self._exporter = exporter
        self._failures = failures
        self._where = where
        self._timeout_millis = timeout * 1000
        self._ready = threading.Condition()
        self._pending: MetricsData | None = None
        self._due = False  # a collection was asked for and not made yet
        self._sending = False  # the worker holds a round
        self._closed = False
        self._abort = Once(exporter.shutdown)
        self._worker = threading.Thread(target=self._work, name="oversight-otlp-metrics")
        self._worker.daemon = True  # a collector that never answers must not hold the exit
        self._worker.start()

    @property
    def pending(self) -> int:
        """Batches waiting to be sent: 0 or 1, whatever the collector does."""
        return 0 if self._pending is None else 1

    @property
    def busy(self) -> bool:
        """A round is waiting to be made or still being sent."""
        with self._ready:
            return self._due or self._sending

    def request(self) -> None:
        """A collection is due: the worker makes it (and exports it) as soon as it is free.
        Called on the loop once the mirror holds this round's observations."""
        with self._ready:
            if not self._closed:
                self._due = True
                self._ready.notify()

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        with self._ready:
            self._pending = metrics_data  # replaces an unsent batch: totals are cumulative
            self._ready.notify()

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._due and self._pending is None and not self._closed:
                    self._ready.wait()
                due, self._due = self._due, False
                if not due and self._pending is None:
                    return  # closed and drained
                self._sending = True
            try:
                if due:
                    try:
                        self.collect()  # the histogram, when a probe records one
                    except Exception:
                        log.exception("OTLP metrics collection failed; trying again next interval")
                with self._ready:
                    data, self._pending = self._pending, None
                self._send(data, mirrored=due)
            finally:
                with self._ready:
                    self._sending = False

    def _send(self, data: MetricsData | None, mirrored: bool) -> None:
        """The round, request by request, until one fails."""
        try:
            for request in self._requests(data, mirrored):
                if not self._failures.run(
                    "metrics",
                    self._where,
                    lambda r=request: (
                        self._exporter.export(r, timeout_millis=self._timeout_millis)  # type: ignore[misc]
                        is MetricExportResult.SUCCESS
                    ),
                ):
                    return  # counted; the next round carries the same totals
        except Exception:
            log.exception("OTLP metrics: building the points failed; this round is skipped")

    def _requests(self, data: MetricsData | None, mirrored: bool) -> Iterator[MetricsData]:
        """The mirrored families (when the round has them) and the SDK's collection (the
        histogram, or None) in the agent's resource and scope, as requests."""
        groups: list[tuple[Resource, InstrumentationScope, str, Iterable[Metric]]] = []
        own: Iterable[Metric] = ()
        for rm in data.resource_metrics if data is not None else ():
            for collected in rm.scope_metrics:
                if collected.scope == SCOPE:
                    own = collected.metrics
                else:
                    groups.append(
                        (rm.resource, collected.scope, collected.schema_url, collected.metrics)
                    )
        ours = itertools.chain(self._mirrored(time.time_ns()) if mirrored else (), own)
        groups.insert(0, (self.resource, SCOPE, SCOPE.schema_url or "", ours))
        for resource, scope, schema_url, metrics in groups:
            for chunk in split(metrics, MAX_POINTS_PER_REQUEST):
                scopes = [ScopeMetrics(scope, chunk, schema_url)]
                yield MetricsData([ResourceMetrics(resource, scopes, resource.schema_url)])

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Send what is pending (within ``timeout_millis``), then close the exporter."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._worker.join(timeout_millis / 1000)
        self.abort()

    def abort(self) -> None:
        """Close the exporter now; cuts short an export in flight (gRPC cancels the call)."""
        self._abort()


class SnapshotMirror:
    """The gauge and counter families the Prometheus view yields, as OTLP points.

    ``refresh()`` runs the view once, on the loop, and keeps its samples as they are;
    ``metrics()``, in the export worker, turns them into points and lets them go. Counters
    are cumulative sums since the agent started. A view that raises is logged and leaves
    nothing to report this round.
    """

    def __init__(self, families: Callable[[], Awaitable[Iterable[Any]]], started: float) -> None:
        self._families = families
        self._started_ns = int(started * 1e9)
        self._current: list[tuple[Any, list[Any]]] = []

    async def refresh(self) -> None:
        current: list[tuple[Any, list[Any]]] = []
        try:
            for family in await self._families():
                if family.type not in ("gauge", "counter"):
                    continue  # histograms: see the module docstring
                name = family.name + ("_total" if family.type == "counter" else "")
                current.append((family, [s for s in family.samples if s.name == name]))
        except Exception:
            log.exception("OTLP metrics: reading the snapshot failed; this round is skipped")
            current = []
        self._current = current  # one reference swapped: the worker reads whole rounds

    def metrics(self, now_ns: int) -> Iterator[Metric]:
        """The latest round as points, once, a family at a time: the samples are not held
        between rounds, and a round left unfinished (a failed request) lets them go."""
        current, self._current = self._current, []
        return self._points(current, now_ns)

    def _points(self, current: list[tuple[Any, list[Any]]], now_ns: int) -> Iterator[Metric]:
        for family, samples in current:
            counter = family.type == "counter"
            start = self._started_ns if counter else 0
            points = [NumberDataPoint(s.labels, start, now_ns, s.value) for s in samples]
            data: Sum | Gauge = (
                Sum(points, AggregationTemporality.CUMULATIVE, is_monotonic=True)
                if counter
                else Gauge(points)
            )
            yield Metric(family.name, family.documentation, unit_of(family.name), data)


class OtelMetrics:
    """The metrics pipeline of one App: provider, mirror, histogram, reader and worker."""

    def __init__(
        self,
        exporter: MetricExporter,
        resource: Resource,
        failures: ExportFailures,
        where: str,
        timeout: float,
        families: Callable[[], Awaitable[Iterable[Any]]],
        started: float,
    ) -> None:
        self.mirror = SnapshotMirror(families, started)
        self.reader = LoopReader(exporter, failures, where, timeout, resource, self.mirror.metrics)
        self.provider = MeterProvider(
            resource=resource,
            metric_readers=[self.reader],
            exemplar_filter=TraceBasedExemplarFilter(),
            shutdown_on_exit=False,
        )
        meter = self.provider.get_meter(SCOPE.name, SCOPE.version)
        family = n.PROBE_DURATION_HISTOGRAM
        self.histogram = meter.create_histogram(
            family.name,
            unit=unit_of(family.name),
            description=family.help,
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )

    def rename(self, resource: Resource) -> None:
        """Points from the next request on go out under ``resource``."""
        self.reader.resource = resource

    async def collect(self, last: bool = False) -> None:
        """Read the snapshot (in steps, on the loop) and have the worker export it; not while
        the worker still holds an earlier round, unless this is the ``last`` one."""
        if self.reader.busy and not last:
            return
        await self.mirror.refresh()
        self.reader.request()

    def record(
        self, seconds: float, attributes: Mapping[str, str], context: Context | None
    ) -> None:
        """One run's duration; ``context`` holds its exported span (the exemplar), if any."""
        self.histogram.record(seconds, dict(attributes), context=context or Context())

    def shutdown(self, timeout: float) -> None:
        self.provider.shutdown(timeout_millis=timeout * 1000)
