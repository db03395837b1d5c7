"""A collector that is down, refusing or slow never hurts probing: runs stay on schedule,
queues stay bounded, failures are counted and logged once, export resumes when it returns,
and stopping keeps to its deadline."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from exporters.otlp.failures import AWAY_QUEUE, ExportFailures
from exporters.otlp.settings import SignalTarget
from exporters.otlp.traces import CountingBatchProcessor, CountingSpanExporter
from exporters.otlp.transport import span_exporter
from tests.peers.http_servers import Running, never_answer, peer_app, raw_server, serve
from tests.peers.otlp_receiver import GrpcReceiver, HttpReceiver, Sink, otel_agent, otlp_of, until

MAX_QUEUE = 32
INTERVAL = 0.1
OUTAGE = 2.0  # seconds the collector misbehaves
SHUTDOWN_TIMEOUT = 1.0

CONFIG = """\
exporters:
  otlp:
    timeout: 500ms
    shutdown_timeout: 1s
    traces: {{max_queue_size: {queue}}}
patterns:
  client:
    integrations:
      kyc:
        scope: external
        probes:
          health:
            interval: 100ms
            timeout: 90ms
            http: {{url: "{base}/json"}}
          port:
            interval: 100ms
            timeout: 90ms
            tcp: {{address: "{hostport}"}}
"""


@pytest.fixture
async def peer() -> AsyncIterator[Running]:
    async with serve(peer_app()) as running:
        yield running


class Collector:
    """One receiver of either protocol, with the three ways a collector goes wrong."""

    def __init__(self, protocol: str, sink: Sink) -> None:
        self.protocol = protocol
        self.sink = sink
        self.grpc = GrpcReceiver(sink) if protocol == "grpc" else None
        self.http = HttpReceiver(sink) if protocol != "grpc" else None

    @property
    def endpoint(self) -> str:
        return (self.grpc or self.http).endpoint  # type: ignore[union-attr]

    async def start(self) -> None:
        if self.grpc is not None:
            self.grpc.start()
        else:
            await self.http.start()  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.grpc is not None:
            self.grpc.stop()
        else:
            await self.http.stop()  # type: ignore[union-attr]

    async def fail(self, fault: str) -> None:
        if fault == "down":
            await self.stop()
        else:
            self.sink.mode = fault
            self.sink.delay = 3.0

    async def heal(self, fault: str) -> None:
        if fault == "down":
            await self.start()  # on the same port
        self.sink.mode = "ok"


@pytest.mark.parametrize("fault", ["down", "refuse", "slow"])
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
async def test_collector_outage_never_hurts_probing(
    tmp_path: Path,
    peer: Running,
    protocol: str,
    fault: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = Sink()
    collector = Collector(protocol, sink)
    await collector.start()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    text = CONFIG.format(queue=MAX_QUEUE, base=peer.base, hostport=peer.base[len("http://") :])
    caplog.set_level(logging.INFO)
    await collector.fail(fault)
    try:
        async with otel_agent(tmp_path, text, env) as agent:
            app = agent.app
            began = time.monotonic()
            await until(lambda: time.monotonic() - began >= OUTAGE, OUTAGE + 1)
            failures = otlp_of(app).failures()
            assert failures[("otlp", "metrics")] >= 1 and failures[("otlp", "traces")] >= 1
            scraped = {
                s.labels["signal"]: s.value
                for f in text_string_to_metric_families(await agent.scrape())
                if f.name == "oversight_export_failures"
                for s in f.samples
                if s.labels.get("exporter") == "otlp" and s.name.endswith("_total")
            }
            assert scraped["metrics"] >= 1 and scraped["traces"] >= 1
            # Probing kept its schedule while every export failed.
            # (Loose bounds: a busy CI machine delays a run now and then, collector or not.)
            expected = OUTAGE / INTERVAL
            for probe_id in ("client/kyc/health", "client/kyc/port"):
                assert app.store.totals[probe_id].runs >= expected * 0.5, probe_id
            skipped = app.scheduler.stats.skipped
            assert skipped["missed"] == 0 and skipped["overlap"] <= expected * 0.1, skipped
            # Bounded: one metrics batch waits at most; spans beyond the queue are dropped.
            assert otlp_of(app).metrics is not None and otlp_of(app).metrics.reader.pending <= 1  # type: ignore[union-attr]
            assert sink.spans() == []
            healed_ns = time.time_ns()
            await collector.heal(fault)
            await until(lambda: any(s.start >= healed_ns for s in sink.spans()), 6, "spans")
            await until(lambda: sink.points("probe_success"), 6, "metrics")
            stopping = time.monotonic()
        stopped_in = time.monotonic() - stopping
    finally:
        await collector.stop()

    old = [s for s in sink.spans() if s.end < healed_ns]
    assert len(old) <= 2 * MAX_QUEUE  # the queue, plus the batch that was in flight
    assert stopped_in < SHUTDOWN_TIMEOUT + 1.0
    warned = [
        r.getMessage()
        for r in caplog.records
        if r.name == "oversight.otel" and r.levelno == logging.WARNING
    ]
    assert len(warned) <= 2, warned  # the first failure of each signal; a reminder is a minute off
    assert all("export to" in w and "failed" in w for w in warned)
    resumed = [r.getMessage() for r in caplog.records if "resumed after" in r.getMessage()]
    assert {m.split()[1] for m in resumed} == {"metrics", "traces"}
    sdk = [r for r in caplog.records if r.name.startswith("opentelemetry")]
    assert len(sdk) <= 12, [r.getMessage() for r in sdk]


async def test_stop_keeps_its_deadline_with_a_collector_that_never_answers(
    tmp_path: Path, peer: Running
) -> None:
    """Spans queued, a gRPC export hanging: stop() cancels it and returns within its deadline."""
    sink = Sink(mode="slow", delay=30.0)
    collector = Collector("grpc", sink)
    await collector.start()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_EXPORTER_OTLP_TIMEOUT": "20000",  # 20 s per export, in milliseconds as specified
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    text = CONFIG.format(queue=MAX_QUEUE, base=peer.base, hostport=peer.base[len("http://") :])
    text = text.replace("    timeout: 500ms\n", "")
    try:
        async with otel_agent(tmp_path, text, env) as agent:
            target = otlp_of(agent.app).settings.traces  # type: ignore[union-attr]
            assert target is not None and target.timeout == 20.0
            await until(lambda: sink.calls >= 2, 5, "exports in flight")
            stopping = time.monotonic()
        stopped_in = time.monotonic() - stopping
    finally:
        await collector.stop()
    assert stopped_in < SHUTDOWN_TIMEOUT + 1.0


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
async def test_a_black_holed_collector_shows_within_one_export_interval(
    tmp_path: Path, peer: Running, protocol: str
) -> None:
    """A collector that accepts and never answers holds each export for its whole timeout
    (10 s here); the exports that fall due meanwhile count as failed when they are due, and
    the spans the full queue cannot hold count as dropped."""
    interval = 0.5
    async with raw_server(never_answer) as port:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_TIMEOUT": "10000",
            "OTEL_METRIC_EXPORT_INTERVAL": str(int(interval * 1000)),
            "OTEL_BSP_SCHEDULE_DELAY": str(int(interval * 1000)),
        }
        text = CONFIG.format(queue=MAX_QUEUE, base=peer.base, hostport=peer.base[len("http://") :])
        text = text.replace("    timeout: 500ms\n", "")
        async with otel_agent(tmp_path, text, env) as agent:
            output = otlp_of(agent.app)
            began = time.monotonic()
            # the first export is due after one interval and hangs; the next one is due an
            # interval later and counts at once
            await until(lambda: output.failures()[("otlp", "metrics")] >= 1, 3 * interval + 1)
            await until(lambda: output.failures()[("otlp", "traces")] >= 1, 3 * interval + 1)
            seen_in = time.monotonic() - began
            await until(lambda: output.dropped()[("otlp", "traces")] >= 1, 5, "dropped spans")
            scraped = {
                (f.name, s.labels["signal"]): s.value
                for f in text_string_to_metric_families(await agent.scrape())
                if f.name in ("oversight_export_failures", "oversight_export_dropped")
                for s in f.samples
                if s.name.endswith("_total")
            }
            assert scraped[("oversight_export_failures", "metrics")] >= 1
            assert scraped[("oversight_export_dropped", "traces")] >= 1
            assert agent.app.store.totals["client/kyc/health"].runs >= 10  # probing went on
            stopping = time.monotonic()
        stopped_in = time.monotonic() - stopping
    assert seen_in < 3 * interval + 1, seen_in
    assert stopped_in < SHUTDOWN_TIMEOUT + 1.0


@pytest.mark.parametrize("fault", ["refuse", "slow"])
async def test_a_collector_away_keeps_the_span_queue_short(fault: str) -> None:
    """A queue of 2,048 spans. Once an export has failed (refused) or waited past ``STALLED``
    (a collector that does not answer), the queue takes no more than ``AWAY_QUEUE`` spans; the
    rest are dropped and counted. Back to the whole queue once an export succeeds."""
    sink = Sink(mode=fault, delay=3.0)
    receiver = GrpcReceiver(sink)
    receiver.start()
    failures = ExportFailures()
    timeout = 0.5 if fault == "refuse" else 5.0  # slow: known away by waiting, not failing
    target = SignalTarget(
        "traces", "grpc", receiver.endpoint, (), "none", timeout, True, None, None, None
    )
    processor = CountingBatchProcessor(
        CountingSpanExporter(span_exporter(target), failures, "test"),
        failures,
        max_queue_size=2048,
        schedule_delay_millis=50,
        max_export_batch_size=128,
    )
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("test")
    try:
        tracer.start_span("first").end()
        await until(lambda: failures.failing("traces"), 5, "the collector known away")
        peak = 0
        for _ in range(3000):
            tracer.start_span("while away").end()
            peak = max(peak, processor.queued)
        assert peak <= AWAY_QUEUE
        assert failures.dropped()[("otlp", "traces")] >= 1500  # exports take 128 at a time
        sink.mode = "ok"
        await until(lambda: not failures.failing("traces"), 10, "an export that succeeds")
        before = failures.dropped()[("otlp", "traces")]
        for _ in range(1500):  # more than AWAY_QUEUE, less than the queue
            tracer.start_span("back").end()
        assert failures.dropped()[("otlp", "traces")] == before
    finally:
        provider.shutdown()
        receiver.stop()
