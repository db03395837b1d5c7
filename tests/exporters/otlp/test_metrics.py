"""A metrics round goes out in requests a collector takes, one at a time, and a collector that
is away or slow costs one request's wait and one round's memory: a failed request ends the
round, and no round is read while the worker still holds one. Real exporters, a real gRPC
receiver on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Metric,
    NumberDataPoint,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from prometheus_client.core import GaugeMetricFamily

from exporters.otlp.failures import ExportFailures
from exporters.otlp.metrics import MAX_POINTS_PER_REQUEST, LoopReader, OtelMetrics, split
from exporters.otlp.settings import SignalTarget
from exporters.otlp.transport import metric_exporter
from tests.peers.otlp_receiver import GrpcReceiver, Sink, until

POINTS = 10_000  # three requests' worth


def _gauge(name: str, count: int) -> Metric:
    points = [NumberDataPoint({"n": str(i)}, 0, 1, i) for i in range(count)]
    return Metric(name, "", "1", Gauge(points))


def test_split_cuts_families_at_the_limit_and_keeps_order_and_kind() -> None:
    runs = Metric(
        "oversight_probe_runs",
        "",
        "",
        Sum(
            [NumberDataPoint({"n": str(i)}, 5, 9, i) for i in range(7)],
            AggregationTemporality.CUMULATIVE,
            is_monotonic=True,
        ),
    )
    metrics = [_gauge("a", 3), runs, _gauge("b", 0), _gauge("c", 4)]
    requests = list(split(iter(metrics), 5))
    assert [[(m.name, len(m.data.data_points)) for m in r] for r in requests] == [
        [("a", 3), ("oversight_probe_runs", 2)],
        [("oversight_probe_runs", 5)],
        [("c", 4)],
    ]
    cut = [m for r in requests for m in r if m.name == "oversight_probe_runs"]
    assert all(isinstance(m.data, Sum) and m.data.is_monotonic for m in cut)
    assert [p.value for m in cut for p in m.data.data_points] == list(range(7))
    assert requests[2][0] is metrics[3]  # a family that fits whole goes as it is


@pytest.fixture
def receiver() -> Iterator[GrpcReceiver]:
    running = GrpcReceiver(Sink())
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _reader(receiver: GrpcReceiver, failures: ExportFailures, rounds: list[int]) -> LoopReader:
    target = SignalTarget(
        "metrics", "grpc", receiver.endpoint, (), "none", 0.5, True, None, None, None
    )

    def mirrored(now_ns: int) -> Iterator[Metric]:
        rounds.append(now_ns)
        yield _gauge("probe_success", POINTS)

    return LoopReader(
        metric_exporter(target), failures, "test", 0.5, Resource({"service.name": "t"}), mirrored
    )


async def test_a_round_goes_in_requests_the_collector_takes(receiver: GrpcReceiver) -> None:
    failures, rounds = ExportFailures(), list[int]()
    reader = _reader(receiver, failures, rounds)
    try:
        reader.request()
        await until(lambda: len(receiver.sink.points("probe_success")) == POINTS, 10, "points")
    finally:
        reader.abort()
    sizes = [
        sum(len(m.gauge.data_points) for rm in r.resource_metrics for sm in rm.scope_metrics
            for m in sm.metrics)
        for r in receiver.sink.metrics
    ]  # fmt: skip
    last = POINTS - 2 * MAX_POINTS_PER_REQUEST
    assert sizes == [MAX_POINTS_PER_REQUEST, MAX_POINTS_PER_REQUEST, last]
    values = [p.value for p in receiver.sink.points("probe_success")]
    assert values == [float(i) for i in range(POINTS)]
    assert len(rounds) == 1 and failures.counts() == {}


async def test_a_refused_request_ends_the_round(receiver: GrpcReceiver) -> None:
    receiver.sink.mode = "refuse"
    failures = ExportFailures()
    failures.track("metrics")
    reader = _reader(receiver, failures, [])
    try:
        reader.request()
        await until(lambda: failures.counts()[("otlp", "metrics")] == 1, 10, "the failure")
        await until(lambda: not reader.busy, 5, "the round let go")
    finally:
        reader.abort()
    assert receiver.sink.calls == 1  # not one per request of the round
    assert failures.failing("metrics")


async def test_no_round_is_read_while_the_worker_holds_one(receiver: GrpcReceiver) -> None:
    """A collector that takes 2 s: rounds due meanwhile are not read, and the last one at
    stopping is."""
    receiver.sink.mode, receiver.sink.delay = "slow", 2.0
    read: list[int] = []

    async def families() -> list[GaugeMetricFamily]:
        read.append(1)
        family = GaugeMetricFamily("probe_success", "help", labels=["probe"])
        family.add_metric(["health"], 1.0)
        return [family]

    target = SignalTarget(
        "metrics", "grpc", receiver.endpoint, (), "none", 5.0, True, None, None, None
    )
    failures = ExportFailures()
    metrics = OtelMetrics(
        metric_exporter(target), Resource({}), failures, "test", 5.0, families, started=0.0
    )
    try:
        await metrics.collect()
        await until(lambda: receiver.sink.calls == 1, 5, "the first export")
        for _ in range(5):
            await metrics.collect()
            await asyncio.sleep(0.05)
        assert read == [1] and metrics.reader.busy
        await metrics.collect(last=True)
        assert read == [1, 1]
    finally:
        metrics.reader.abort()
        metrics.provider.shutdown(timeout_millis=1000)
