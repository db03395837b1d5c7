"""A failed export lets its batch go the moment it returns.

The SDK's exporters keep a failed call's error on a record their own frame refers to; the
error's traceback holds that frame, and the frame the batch. Left as it is, every export
that fails while a collector is away leaves a batch for the garbage collector, and one
caught by ``gc.freeze()`` (the agent freezes its plan after a reload) stays for good: the
soak's RSS grew 10 MiB a minute while its collector was away. Real exporters, a closed
loopback port.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext

from exporters.otlp.settings import SignalTarget
from exporters.otlp.transport import metric_exporter, span_exporter
from tests.peers.http_servers import closed_port

POINTS = 5000  # more than a request carries: the metrics exporter splits the batch


def _target(signal: str, protocol: str) -> SignalTarget:
    port = closed_port()
    endpoint = f"http://127.0.0.1:{port}"
    if protocol != "grpc":
        endpoint += f"/v1/{signal}"
    return SignalTarget(signal, protocol, endpoint, (), "none", 0.3, True, None, None, None)


def _metrics() -> MetricsData:
    points = [NumberDataPoint({"n": str(i)}, 0, 1, i) for i in range(POINTS)]
    metric = Metric("oversight_probe_success", "", "1", Gauge(points))
    scope = ScopeMetrics(InstrumentationScope("oversight"), [metric], "")
    return MetricsData([ResourceMetrics(Resource({}), [scope], "")])


def _spans() -> list[ReadableSpan]:
    return [
        ReadableSpan(
            f"probe {i}",
            SpanContext(i + 1, i + 1, is_remote=False),
            start_time=1,
            end_time=2,
            resource=Resource({}),
        )
        for i in range(POINTS)
    ]


def _alive(kind: type) -> int:
    return sum(type(o) is kind for o in gc.get_objects())


@pytest.fixture
def no_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


Case = tuple[Callable[[SignalTarget], Any], str, Callable[[], Any], type, Any]
CASES: dict[str, Case] = {
    "metrics": (metric_exporter, "metrics", _metrics, NumberDataPoint, MetricExportResult),
    "traces": (span_exporter, "traces", _spans, ReadableSpan, SpanExportResult),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_failed_export_frees_its_batch_by_reference_counting(
    no_collector: None, case: str
) -> None:
    """gRPC, the default protocol. The HTTP exporter's retries keep each attempt's error in
    a cycle of their own, out of reach; the collector frees those, and the agent's periodic
    refreeze (agent/app.py) keeps a freeze from catching them for good."""
    make, signal, batch, item, results = CASES[case]
    exporter = make(_target(signal, "grpc"))
    try:
        assert _alive(item) == 0
        assert exporter.export(batch()) is results.FAILURE
        assert _alive(item) == 0  # with the collector off: nothing waits for it
    finally:
        exporter.shutdown()
