"""OTLP end to end against a real receiver (gRPC and HTTP/protobuf): the metrics mirror
/metrics, spans form a tree with the run's timings, the target gets the trace context, and
the exemplar on /metrics points to an exported trace."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from agent.store import DURATION_BUCKETS
from tests.peers.http_servers import Running, peer_app, serve
from tests.peers.otlp_receiver import (
    GrpcReceiver,
    HttpReceiver,
    Sink,
    Span,
    otel_agent,
    otlp_of,
    until,
)

CLIENT, INTERNAL, ERROR = 3, 1, 2  # protobuf enum values: SpanKind, Status.StatusCode

CONFIG = """\
agent:
  labels: {{cluster: test}}
{agent_extra}
exporters:
  otlp:
    headers: {{x-api-key: k-123}}
    resource_attributes: {{deployment.environment: test}}
    timeout: 2s
    shutdown_timeout: 2s
{otlp_extra}
patterns:
  bill_pay:
    integrations:
      processor:
        scope: external
        probes:
          health:
            interval: 1s
            timeout: 900ms  # a loaded machine must not turn a success into a timeout
            http: {{url: "{base}/json?api_key=s3cret&page=2"{http_extra}}}
            thresholds: {{latency: {{warning: 300ms, critical: 1s}}}}
            histogram: true  # the run-duration histogram is opt-in: this probe's only
          broken:
            interval: 300ms
            timeout: 250ms
            http: {{url: "{base}/status/503"}}
      ledger:
        scope: internal
        probes:
          port:
            interval: 300ms
            timeout: 250ms
            tcp: {{address: "{hostport}"}}
"""
HEALTH = {"pattern": "bill_pay", "integration": "processor", "scope": "external", "probe": "health"}


@dataclass
class Receivers:
    sink: Sink
    grpc: GrpcReceiver
    http: HttpReceiver

    def env(self, protocol: str, **extra: str) -> dict[str, str]:
        endpoint = self.grpc.endpoint if protocol == "grpc" else self.http.endpoint
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_METRIC_EXPORT_INTERVAL": "200",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            **extra,
        }


@pytest.fixture
async def receivers() -> AsyncIterator[Receivers]:
    sink = Sink()
    grpc_receiver = GrpcReceiver(sink)
    grpc_receiver.start()
    http_receiver = HttpReceiver(sink)
    await http_receiver.start()
    yield Receivers(sink, grpc_receiver, http_receiver)
    grpc_receiver.stop()
    await http_receiver.stop()


@pytest.fixture
async def peer() -> AsyncIterator[Running]:
    async with serve(peer_app()) as running:
        yield running


# Every probe's run-duration histogram, for the exemplar tests.
HISTOGRAMS = "  histograms: true"


def config(peer: Running, otlp_extra: str = "", http_extra: str = "", agent_extra: str = "") -> str:
    return CONFIG.format(
        base=peer.base,
        hostport=peer.base.removeprefix("http://"),
        otlp_extra=otlp_extra,
        http_extra=http_extra,
        agent_extra=agent_extra,
    )


def roots(sink: Sink, probe: str) -> list[Span]:
    return [s for s in sink.spans() if not s.parent_id and s.attributes["oversight.probe"] == probe]


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
async def test_metrics_mirror_the_prometheus_families(
    tmp_path: Path, receivers: Receivers, peer: Running, protocol: str
) -> None:
    sink = receivers.sink
    env = receivers.env(
        protocol,
        POD_NAME="oversight-7f9c",
        POD_NAMESPACE="payments",
        NODE_NAME="node-3",
        OTEL_RESOURCE_ATTRIBUTES="team=sre%20core,deployment.environment=overridden",
    )
    async with otel_agent(tmp_path, config(peer), env) as agent:
        await until(lambda: len(sink.points("probe_success")) >= 3, what="probe_success x3")
        await until(lambda: sink.latest("oversight_probe_duration_seconds", probe="health"))
        text = await agent.scrape()

    success = sink.latest("probe_success", **HEALTH)
    assert success is not None and success.kind == "gauge" and success.unit == ""
    assert success.value == 1.0
    assert success.attributes == {**HEALTH, "cluster": "test", "agent": success.attributes["agent"]}
    assert sink.latest("probe_success", probe="broken").value == 0.0  # type: ignore[union-attr]
    runs = sink.latest("oversight_probe_runs", **HEALTH)
    assert runs is not None and runs.kind == "sum" and runs.monotonic and runs.value >= 1
    assert "result" not in runs.attributes  # all runs; the failures have their own counter
    assert sink.latest("oversight_probe_failures", **HEALTH) is None  # it never failed
    broken_runs = sink.latest("oversight_probe_runs", probe="broken")
    failures = sink.latest("oversight_probe_failures", probe="broken", reason="status_mismatch")
    assert failures is not None and broken_runs is not None and failures.value >= 1
    down = sink.latest("oversight_integration_state", integration="processor", state="down")
    assert down is not None and down.value == 1.0
    assert "probe" not in down.attributes  # an integration series, as on /metrics
    # one series, the current state's: the last point of the integration is that one
    last = sink.latest("oversight_integration_state", integration="processor")
    assert last is not None and last.attributes["state"] == "down"
    warning = sink.latest("oversight_probe_latency_threshold_seconds", **HEALTH, severity="warning")
    assert warning is not None and warning.unit == "s"
    levels = {
        p.attributes["severity"]: p.value
        for p in sink.points("oversight_probe_latency_threshold_seconds")
    }
    assert levels == {"warning": 0.3, "critical": 1.0}
    assert sink.latest("probe_duration_seconds", **HEALTH).unit == "s"  # type: ignore[union-attr]
    assert sink.latest("probe_http_status_code", probe="broken").value == 503  # type: ignore[union-attr]

    histogram = sink.latest("oversight_probe_duration_seconds", **HEALTH)
    assert histogram is not None and histogram.kind == "histogram" and histogram.unit == "s"
    assert tuple(histogram.raw.explicit_bounds) == DURATION_BUCKETS
    assert sum(histogram.raw.bucket_counts) == histogram.raw.count >= 1
    assert 0 < histogram.raw.min <= histogram.raw.max < 0.25
    # only the probe that asks for it (histogram: true) has one
    assert {p.attributes["probe"] for p in sink.points("oversight_probe_duration_seconds")} == {
        "health"
    }

    # Every gauge and counter family of /metrics is exported under its own name.
    families = {
        f.name: f.type
        for f in text_string_to_metric_families(text)
        if not f.name.startswith("process_")
    }
    exported = {p.name for p in sink.points()}
    mirrored = {name for name, kind in families.items() if kind in ("gauge", "counter")}
    assert mirrored <= exported, mirrored - exported
    assert exported - mirrored == {"oversight_probe_duration_seconds"}

    resource = success.resource
    assert resource["service.name"] == "oversight-agent"
    assert resource["service.version"] and resource["host.name"]
    assert resource["service.instance.id"] == success.attributes["agent"]
    assert resource["k8s.pod.name"] == "oversight-7f9c"
    assert resource["k8s.namespace.name"] == "payments"
    assert resource["k8s.node.name"] == "node-3"
    assert resource["team"] == "sre core"
    assert resource["deployment.environment"] == "test"  # the config wins over the variable
    assert all(h.get("x-api-key") == "k-123" for h in sink.headers)


async def test_a_renamed_agent_is_a_renamed_resource(
    tmp_path: Path, receivers: Receivers, peer: Running
) -> None:
    """The resource's service.instance.id is the agent's name, as /metrics' ``agent`` label:
    a reload that renames the agent renames both."""
    sink = receivers.sink

    def instance() -> str | None:
        point = sink.latest("probe_success", **HEALTH)
        return None if point is None else str(point.resource["service.instance.id"])

    named = config(peer, agent_extra="  name: first")
    async with otel_agent(tmp_path, named, receivers.env("grpc")) as agent:
        await until(lambda: instance() == "first", what="the first name")
        output = otlp_of(agent.app)
        pipelines = (output.metrics, output.traces)
        (tmp_path / "oversight.yaml").write_text(named.replace("name: first", "name: second"))
        assert (await agent.app.reload()).ok
        renamed_ns = time.time_ns()
        await until(lambda: instance() == "second", what="the new name")
        assert sink.latest("probe_success", **HEALTH).attributes["agent"] == "second"  # type: ignore[union-attr]
        await until(lambda: any(s.start > renamed_ns for s in sink.spans()), what="new spans")
        assert otlp_of(agent.app) is output and (output.metrics, output.traces) == pipelines
    late = [s for s in sink.spans() if s.start > renamed_ns]
    assert {s.resource["service.instance.id"] for s in late} == {"second"}


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
async def test_spans_tree_timings_and_trace_context(
    tmp_path: Path, receivers: Receivers, peer: Running, protocol: str
) -> None:
    sink = receivers.sink
    async with otel_agent(tmp_path, config(peer), receivers.env(protocol)) as agent:
        store = agent.app.store
        await until(lambda: "bill_pay/processor/health" in store.latest)
        result = store.latest["bill_pay/processor/health"]
        await until(lambda: any(s.trace_id == result.trace_id for s in sink.spans()))
        await until(lambda: roots(sink, "broken") and roots(sink, "port"))
        traceparent = peer.state.last("/json").headers["traceparent"]

    tree = [s for s in sink.spans() if s.trace_id == result.trace_id]
    (root,) = [s for s in tree if not s.parent_id]
    children = sorted((s for s in tree if s.parent_id), key=lambda s: s.start)
    assert all(c.parent_id == root.span_id for c in children)
    assert root.name == "http bill_pay/processor/health" and root.kind == CLIENT
    assert root.status_code == 0 and "error.type" not in root.attributes
    assert root.attributes == {
        "oversight.pattern": "bill_pay",
        "oversight.integration": "processor",
        "oversight.scope": "external",
        "oversight.probe": "health",
        "oversight.probe.kind": "http",
        "url.full": f"{peer.base}/json?api_key=<redacted>&page=2",
        "url.scheme": "http",
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "server.port": int(peer.base.rsplit(":", 1)[1]),
        "http.response.status_code": 200,
        "network.protocol.name": "http",
        "network.protocol.version": "1.1",
    }
    # Children: the phases in the runner's order, back to back from the run's start.
    assert [c.name for c in children] == [name for name, _ in result.phases]
    assert {c.kind for c in children} == {INTERNAL}
    cursor = int(result.started * 1e9)
    for child, (name, seconds) in zip(children, result.phases, strict=True):
        assert child.attributes == {"oversight.phase": name}
        assert child.start == cursor
        assert child.end - child.start == int(seconds * 1e9)
        cursor = child.end
    assert root.start <= children[0].start and children[-1].end <= root.end
    assert root.end == int(result.started * 1e9) + int(result.duration * 1e9)

    # The target's traceparent names this trace and, as parent, the probe's span.
    version, trace_id, parent_id, flags = traceparent.split("-")
    assert trace_id in {s.trace_id for s in roots(sink, "health")}
    (sent,) = [s for s in roots(sink, "health") if s.trace_id == trace_id]
    assert (version, parent_id, int(flags, 16) & 1) == ("00", sent.span_id, 1)

    broken = roots(sink, "broken")[-1]
    assert broken.status_code == ERROR
    assert broken.status_message == "[STATUS] (503) in 200..299"
    assert broken.attributes["error.type"] == "status_mismatch"
    assert broken.attributes["oversight.failure.reason"] == "status_mismatch"
    assert broken.attributes["http.response.status_code"] == 503
    assert ("condition failed", {"oversight.observed": "[STATUS] (503) in 200..299"}) in (
        broken.events
    )
    port = roots(sink, "port")[-1]
    assert port.kind == CLIENT and port.name == "tcp bill_pay/ledger/port"
    assert port.attributes["server.port"] == int(peer.base.rsplit(":", 1)[1])
    assert [c.name for c in sink.spans() if c.parent_id == port.span_id] == ["resolve", "connect"]


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
async def test_exemplars_point_to_exported_traces(
    tmp_path: Path, receivers: Receivers, peer: Running, protocol: str
) -> None:
    sink = receivers.sink
    text = config(peer, agent_extra=HISTOGRAMS)
    async with otel_agent(tmp_path, text, receivers.env(protocol)) as agent:
        for probe in ("health", "broken", "port"):
            await until(lambda p=probe: sink.latest("oversight_probe_duration_seconds", probe=p))
        text = await agent.scrape()
        exemplars = {
            s.labels["probe"]: s.exemplar.labels["trace_id"]
            for f in text_string_to_metric_families(text)
            if f.name == "oversight_probe_duration_seconds"
            for s in f.samples
            if s.exemplar is not None
        }
        assert set(exemplars) == {"health", "broken", "port"}
        await until(lambda: set(exemplars.values()) <= {s.trace_id for s in sink.spans()})
        otlp = [
            e.trace_id.hex()
            for p in sink.points("oversight_probe_duration_seconds")
            for e in p.raw.exemplars
        ]
        assert otlp
        await until(lambda: set(otlp) <= {s.trace_id for s in sink.spans() if not s.parent_id})


async def test_successful_runs_sampled_failures_always(
    tmp_path: Path, receivers: Receivers, peer: Running
) -> None:
    sink = receivers.sink
    extra = "    traces: {success_ratio: 0}"
    text = config(peer, extra, agent_extra=HISTOGRAMS)
    async with otel_agent(tmp_path, text, receivers.env("grpc")) as agent:
        await until(lambda: len(roots(sink, "broken")) >= 2)
        await until(lambda: sink.latest("oversight_probe_duration_seconds", probe="health"))
        text = await agent.scrape()
        health = agent.app.store.latest["bill_pay/processor/health"]
    assert health.success and health.trace_id is None
    assert roots(sink, "health") == [] and roots(sink, "port") == []
    assert all(s.status_code == ERROR for s in sink.spans() if not s.parent_id)
    bucket_lines = [line for line in text.splitlines() if "_bucket{" in line and " # {" in line]
    assert bucket_lines and all('probe="broken"' in line for line in bucket_lines)
    assert peer.state.last("/json").headers.get("traceparent")  # still sent: decided after


@pytest.mark.parametrize(
    ("otlp_extra", "http_extra"),
    [("    traces: {propagate: false}", ""), ("", ", trace_context: false")],
    ids=["agent-wide", "per-probe"],
)
async def test_trace_context_can_be_turned_off(
    tmp_path: Path, receivers: Receivers, peer: Running, otlp_extra: str, http_extra: str
) -> None:
    sink = receivers.sink
    text = config(peer, otlp_extra, http_extra)
    async with otel_agent(tmp_path, text, receivers.env("grpc")):
        await until(lambda: roots(sink, "health"))
    health = [r for r in peer.state.requests if r.path == "/json"]
    assert health and all("traceparent" not in r.headers for r in health)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OTEL_SERVICE_NAME": "x"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SDK_DISABLED": "true"},
    ],
    ids=["nothing-set", "no-endpoint", "sdk-disabled"],
)
async def test_off_unless_asked(tmp_path: Path, peer: Running, env: dict[str, str]) -> None:
    async with otel_agent(tmp_path, config(peer), env) as agent:
        await until(lambda: "bill_pay/processor/health" in agent.app.store.latest)
        text = await agent.scrape()
        assert not otlp_of(agent.app).active
        assert agent.app.store.latest["bill_pay/processor/health"].trace_id is None
    assert "oversight_export_failures" not in text and " # {" not in text
    assert "traceparent" not in peer.state.last("/json").headers


async def test_a_failing_view_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    """The snapshot view raising leaves that round empty; the next round reports again, a
    gauge as a gauge and a counter as a monotonic sum since the agent started."""
    from opentelemetry.sdk.metrics.export import AggregationTemporality, Gauge, Sum
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    from exporters.otlp.metrics import SnapshotMirror

    broken = [True]

    async def families() -> list[GaugeMetricFamily | CounterMetricFamily]:
        if broken[0]:
            raise RuntimeError("view bug")
        gauge = GaugeMetricFamily("probe_success", "help", labels=["probe"])
        gauge.add_metric(["health"], 1.0)
        counter = CounterMetricFamily("oversight_probe_runs", "runs", labels=["probe"])
        counter.add_metric(["health"], 7.0)
        return [gauge, counter]

    mirror = SnapshotMirror(families, started=1000.0)
    await mirror.refresh()
    assert "reading the snapshot failed" in caplog.text
    assert list(mirror.metrics(2_000_000_000_000)) == []
    broken[0] = False
    await mirror.refresh()
    gauge, counter = mirror.metrics(2_000_000_000_000)
    assert isinstance(gauge.data, Gauge) and isinstance(counter.data, Sum)
    (point,) = gauge.data.data_points
    assert (gauge.name, dict(point.attributes), point.value) == (
        "probe_success",
        {"probe": "health"},
        1.0,
    )
    (total,) = counter.data.data_points
    assert (counter.name, total.value, total.start_time_unix_nano) == (
        "oversight_probe_runs",
        7.0,
        1_000_000_000_000,
    )
    assert counter.data.is_monotonic
    assert counter.data.aggregation_temporality is AggregationTemporality.CUMULATIVE
    assert list(mirror.metrics(2_000_000_000_000)) == []  # a round is sent once
