"""OTLP settings from config and OTEL_* variables, the resource, and the transport options
that matter on the wire: TLS with a CA, headers, gzip."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from agent.config import ConfigError, load_config_text
from exporters.config import OtlpExporter
from exporters.otlp.resource import build_resource
from exporters.otlp.settings import OtlpSettings, OtlpSettingsError, resolve
from tests.peers.http_servers import Running, peer_app, serve
from tests.peers.otlp_receiver import GrpcReceiver, HttpReceiver, Sink, otel_agent, otlp_of, until


def settings(config: dict[str, Any] | None = None, **env: str) -> OtlpSettings | None:
    return resolve(OtlpExporter.model_validate(config or {}), env)


def test_off_unless_an_endpoint_or_enabled() -> None:
    assert settings() is None
    assert settings(OTEL_SERVICE_NAME="x") is None
    assert settings({"enabled": False}, OTEL_EXPORTER_OTLP_ENDPOINT="http://c:4317") is None
    assert settings(OTEL_EXPORTER_OTLP_ENDPOINT="http://c:4317", OTEL_SDK_DISABLED="true") is None
    on = settings({"enabled": True})
    assert on is not None and on.metrics is not None and on.traces is not None
    assert on.metrics.endpoint == "http://localhost:4317" and on.metrics.protocol == "grpc"
    traces_only = settings(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://t:4317")
    assert traces_only is not None and traces_only.traces is not None


@pytest.mark.parametrize(
    ("config", "env", "metrics", "traces"),
    [
        ({}, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, "http://c:4317", "http://c:4317"),
        (
            {},
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            },
            "http://c:4318/v1/metrics",
            "http://c:4318/v1/traces",
        ),
        (
            {},
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://t.example:443/custom/path",
            },
            "http://c:4318/v1/metrics",
            "https://t.example:443/custom/path",
        ),
        (
            {"endpoint": "https://collector:4318", "protocol": "http/protobuf"},
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4317",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            },
            "https://collector:4318/v1/metrics",
            "https://collector:4318/v1/traces",
        ),
        (
            {},
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
                "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
            },
            "http://c:4317/v1/metrics",
            "http://c:4317",
        ),
    ],
    ids=["grpc", "http-base", "http-signal-endpoint", "config-wins", "per-signal-protocol"],
)
def test_endpoints(config: dict[str, Any], env: dict[str, str], metrics: str, traces: str) -> None:
    resolved = settings(config, **env)
    assert resolved is not None and resolved.metrics and resolved.traces
    assert (resolved.metrics.endpoint, resolved.traces.endpoint) == (metrics, traces)


def test_options_from_the_environment_and_the_config(caplog: pytest.LogCaptureFixture) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4317",
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20abc, X-Tenant=t1",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-tenant=traces-only",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": "/etc/ca.pem",
        "OTEL_METRIC_EXPORT_INTERVAL": "15000",
        "OTEL_BSP_MAX_QUEUE_SIZE": "100",
        "OTEL_BSP_SCHEDULE_DELAY": "250",
        "OTEL_TRACES_EXPORTER": "otlp",
    }
    resolved = settings({"headers": {"X-Tenant": "from-config"}}, **env)
    assert resolved is not None and resolved.metrics and resolved.traces
    metrics = resolved.metrics
    assert dict(metrics.headers) == {"authorization": "Bearer abc", "x-tenant": "from-config"}
    assert dict(resolved.traces.headers) == {"x-tenant": "from-config"}  # signal's own, then config
    assert (metrics.compression, metrics.timeout, metrics.insecure) == ("gzip", 2.5, False)
    assert metrics.ca_file == "/etc/ca.pem"
    assert (resolved.metric_interval, resolved.max_queue_size, resolved.span_delay) == (
        15.0,
        100,
        0.25,
    )
    assert "Bearer" not in metrics.display and metrics.display == "https://c:4317 (grpc)"

    overridden = settings(
        {
            "timeout": "3s",
            "compression": "none",
            "tls": {"insecure": True},
            "metrics": {"interval": "5s"},
            "traces": {"success_ratio": "10%", "max_queue_size": 7},
        },
        **env,
    )
    assert overridden is not None and overridden.metrics is not None
    assert (overridden.metrics.timeout, overridden.metrics.compression) == (3.0, "none")
    assert overridden.metrics.insecure is True
    assert (overridden.metric_interval, overridden.success_ratio) == (5.0, 0.1)
    assert overridden.max_queue_size == 7

    caplog.set_level(logging.WARNING)
    seconds = settings(OTEL_EXPORTER_OTLP_ENDPOINT="http://c:4317", OTEL_EXPORTER_OTLP_TIMEOUT="5")
    assert seconds is not None and seconds.metrics is not None and seconds.metrics.timeout == 5.0
    assert "OTEL_EXPORTER_OTLP_TIMEOUT=5 read as 5 seconds" in caplog.text


def test_a_signal_can_be_left_out() -> None:
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}
    no_traces = settings(**endpoint, OTEL_TRACES_EXPORTER="none")
    assert no_traces is not None and no_traces.traces is None and no_traces.metrics is not None
    no_metrics = settings({"metrics": {"enabled": False}}, **endpoint)
    assert no_metrics is not None and no_metrics.metrics is None
    no_logs = settings(**endpoint, OTEL_LOGS_EXPORTER="none")
    assert no_logs is not None and no_logs.logs is None and no_logs.traces is not None
    logs_off = settings({"logs": {"enabled": False}}, **endpoint)
    assert logs_off is not None and logs_off.logs is None
    all_off = {"metrics": {"enabled": False}, "traces": {"enabled": False}}
    assert settings(all_off, **endpoint, OTEL_LOGS_EXPORTER="none") is None
    logs_only = settings(all_off, **endpoint)
    assert logs_only is not None and logs_only.logs is not None  # the audit trail's records
    assert logs_only.logs.endpoint == "http://c:4317"
    assert (logs_only.log_queue_size, logs_only.log_delay) == (2048, 1.0)
    queue = settings({"logs": {"max_queue_size": 9}}, **endpoint, OTEL_BLRP_SCHEDULE_DELAY="200")
    assert queue is not None and (queue.log_queue_size, queue.log_delay) == (9, 0.2)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "'http/json' is not supported"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "'novalue' is not key=value"),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, "OTEL_EXPORTER_OTLP_TIMEOUT='soon'"),
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "'zstd' is not gzip or none"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}, "is not an http(s):// URL"),
    ],
)
def test_unusable_variables_say_which(env: dict[str, str], message: str) -> None:
    with pytest.raises(OtlpSettingsError) as caught:
        settings({"enabled": True}, **env)
    assert message in str(caught.value)


CONFIG_HEAD = """\
patterns:
  p:
    integrations:
      i:
        scope: internal
        probes:
          x: {tcp: {address: "127.0.0.1:1"}}
exporters:
  otlp:
"""


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("    endpoint: collector:4317\n", "endpoint must be an http:// or https:// URL"),
        ("    traces: {sucess_ratio: 0.5}\n", "traces: unknown key 'sucess_ratio'; did you mean"),
        ("    traces: {success_ratio: 150}\n", "exporters.otlp.traces.success_ratio"),
        ("    protocol: http/json\n", "exporters.otlp.protocol"),
    ],
)
def test_config_problems_name_the_key(body: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(CONFIG_HEAD + body, env={})
    assert problem in str(caught.value)


def test_resource_precedence_code_over_environment() -> None:
    base = settings({"enabled": True})
    assert base is not None
    env = {
        "POD_NAME": "agent-abc",
        "K8S_NAMESPACE_NAME": "payments",
        "NODE_NAME": "node-1",
        "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs,team=a%2Cb,region=eu",
    }
    attributes = build_resource(base, env, "agent-abc").attributes
    assert attributes["service.name"] == "from-attrs"
    assert attributes["team"] == "a,b" and attributes["region"] == "eu"
    assert attributes["k8s.pod.name"] == "agent-abc"
    assert attributes["k8s.namespace.name"] == "payments"
    assert attributes["k8s.node.name"] == "node-1"
    assert attributes["service.instance.id"] == "agent-abc"
    assert attributes["telemetry.sdk.language"] == "python"
    named = build_resource(base, {**env, "OTEL_SERVICE_NAME": "from-var"}, "a")
    assert named.attributes["service.name"] == "from-var"
    configured = settings(
        {"enabled": True, "service_name": "from-config", "resource_attributes": {"region": "us"}}
    )
    assert configured is not None
    attributes = build_resource(configured, {**env, "OTEL_SERVICE_NAME": "v"}, "a").attributes
    assert (attributes["service.name"], attributes["region"]) == ("from-config", "us")
    bare = build_resource(base, {}, "a").attributes
    assert bare["service.name"] == "oversight-agent" and "k8s.pod.name" not in bare


@pytest.fixture
async def peer() -> AsyncIterator[Running]:
    async with serve(peer_app()) as running:
        yield running


PROBE = """\
exporters:
  otlp:
    endpoint: {endpoint}
    protocol: {protocol}
    compression: gzip
    headers: {{authorization: "Bearer t0ken"}}
    tls: {{ca_file: "{ca}"}}
patterns:
  p:
    integrations:
      i:
        scope: internal
        probes:
          x:
            interval: 200ms
            timeout: 150ms
            http: {{url: "{url}"}}
"""


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
async def test_tls_with_a_ca_file_headers_and_gzip(
    tmp_path: Path, peer: Running, protocol: str
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    sink = Sink()
    receiver: GrpcReceiver | HttpReceiver
    if protocol == "grpc":
        pem = b"".join(blob.bytes() for blob in cert.cert_chain_pems)
        receiver = GrpcReceiver(sink, tls=(pem, cert.private_key_pem.bytes()))
        receiver.start()
    else:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        receiver = HttpReceiver(sink, ssl_context=context)
        await receiver.start()
    text = PROBE.format(
        endpoint=receiver.endpoint, protocol=protocol, ca=ca_file, url=peer.url("/json")
    )
    env = {"OTEL_METRIC_EXPORT_INTERVAL": "200", "OTEL_BSP_SCHEDULE_DELAY": "100"}
    try:
        async with otel_agent(tmp_path, text, env):
            await until(lambda: sink.spans() and sink.points("probe_success"))
    finally:
        if isinstance(receiver, GrpcReceiver):
            receiver.stop()
        else:
            await receiver.stop()
    assert receiver.endpoint.startswith("https://")
    assert all(h["authorization"] == "Bearer t0ken" for h in sink.headers)
    if protocol == "http/protobuf":
        assert all(h["content-encoding"] == "gzip" for h in sink.headers)


async def test_a_missing_ca_file_leaves_otlp_off_and_the_agent_running(
    tmp_path: Path, peer: Running, caplog: pytest.LogCaptureFixture
) -> None:
    text = PROBE.format(
        endpoint="https://127.0.0.1:9", protocol="grpc", ca=tmp_path / "nope.pem", url=peer.url()
    )
    async with otel_agent(tmp_path, text, {}) as agent:
        await until(lambda: "p/i/x" in agent.app.store.latest)
        assert not otlp_of(agent.app).active
    assert "OTLP export is off: OTLP CA file" in caplog.text and "nope.pem" in caplog.text
