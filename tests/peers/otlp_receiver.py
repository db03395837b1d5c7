"""A real OTLP receiver for tests: the Collector's gRPC metrics, trace and logs services, and the
OTLP/HTTP protobuf endpoints (/v1/metrics, /v1/traces, /v1/logs), recording what they are sent.

Both bind 127.0.0.1 (port 0 unless told), can be stopped and started again on the same port,
and can be made to misbehave: ``sink.mode`` is ``ok``, ``refuse`` (UNAVAILABLE / 503) or
``slow`` (answer after ``sink.delay`` seconds, recording nothing). The gRPC server runs in its
own threads and the HTTP one on the test's event loop. Run as a script it listens on 4317 and
4318 and prints a line per request, to watch ``oversight demo`` export:

    python -m tests.peers.otlp_receiver
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent import futures
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from aiohttp import web
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as lpb
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc as lgrpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as mpb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as mgrpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as tpb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as tgrpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from agent.app import App
from agent.web import bound_port, serve
from exporters.otlp.output import OtlpOutput


def value_of(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def attrs(pairs: Any) -> dict[str, Any]:
    """A protobuf KeyValue list as a dict."""
    return {kv.key: value_of(kv.value) for kv in pairs}


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    start: int  # unix nanoseconds
    end: int
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    events: tuple[tuple[str, dict[str, Any]], ...]
    resource: dict[str, Any]


@dataclass(frozen=True)
class LogRecord:
    body: Any
    attributes: dict[str, Any]
    time: int  # unix nanoseconds
    severity: str
    resource: dict[str, Any]


@dataclass(frozen=True)
class Point:
    """One data point of one metric, flattened."""

    name: str
    unit: str
    kind: str  # gauge | sum | histogram
    attributes: dict[str, Any]
    value: float | None
    raw: Any  # the protobuf data point (bucket counts, exemplars, ...)
    resource: dict[str, Any]
    monotonic: bool = False


@dataclass
class Sink:
    """What the receivers were sent; shared by both. Safe to read from the test's thread."""

    mode: str = "ok"
    delay: float = 5.0
    metrics: list[mpb.ExportMetricsServiceRequest] = field(default_factory=list)
    traces: list[tpb.ExportTraceServiceRequest] = field(default_factory=list)
    logs: list[lpb.ExportLogsServiceRequest] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    calls: int = 0
    verbose: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, request: Any, headers: dict[str, str]) -> bool:
        """Record ``request`` unless misbehaving; True when it was accepted."""
        with self.lock:
            self.calls += 1
            if self.mode != "ok":
                return False
            target: list[Any] = (
                self.metrics
                if isinstance(request, mpb.ExportMetricsServiceRequest)
                else self.logs
                if isinstance(request, lpb.ExportLogsServiceRequest)
                else self.traces
            )
            target.append(request)
            self.headers.append(headers)
        if self.verbose:
            print(_describe(request), flush=True)
        return True

    def spans(self) -> list[Span]:
        with self.lock:
            requests = list(self.traces)
        return [
            Span(
                name=s.name,
                trace_id=s.trace_id.hex(),
                span_id=s.span_id.hex(),
                parent_id=s.parent_span_id.hex(),
                kind=s.kind,
                start=s.start_time_unix_nano,
                end=s.end_time_unix_nano,
                attributes=attrs(s.attributes),
                status_code=s.status.code,
                status_message=s.status.message,
                events=tuple((e.name, attrs(e.attributes)) for e in s.events),
                resource=attrs(rs.resource.attributes),
            )
            for request in requests
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]

    def log_records(self) -> list[LogRecord]:
        with self.lock:
            requests = list(self.logs)
        return [
            LogRecord(
                body=value_of(r.body),
                attributes=attrs(r.attributes),
                time=r.time_unix_nano,
                severity=r.severity_text,
                resource=attrs(rl.resource.attributes),
            )
            for request in requests
            for rl in request.resource_logs
            for sl in rl.scope_logs
            for r in sl.log_records
        ]

    def collector_file(self) -> str:
        """The log requests as the Collector's file exporter writes them: each request as one
        line of OTLP/JSON."""
        with self.lock:
            requests = list(self.logs)
        return "".join(json.dumps(MessageToDict(r)) + "\n" for r in requests)

    def points(self, name: str | None = None) -> list[Point]:
        with self.lock:
            requests = list(self.metrics)
        return [p for r in requests for p in _points(r) if name is None or p.name == name]

    def latest(self, name: str, **labels: Any) -> Point | None:
        """The last point of ``name`` whose attributes include ``labels``."""
        found = [p for p in self.points(name) if labels.items() <= p.attributes.items()]
        return found[-1] if found else None


def _points(request: mpb.ExportMetricsServiceRequest) -> Iterator[Point]:
    for rm in request.resource_metrics:
        resource = attrs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                data = getattr(m, kind)
                for dp in data.data_points:
                    value = None
                    if kind in ("gauge", "sum"):
                        value = dp.as_double if dp.HasField("as_double") else float(dp.as_int)
                    yield Point(
                        m.name,
                        m.unit,
                        kind,
                        attrs(dp.attributes),
                        value,
                        dp,
                        resource,
                        monotonic=kind == "sum" and data.is_monotonic,
                    )


def _describe(request: Any) -> str:
    if isinstance(request, lpb.ExportLogsServiceRequest):
        records = [
            r for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records
        ]
        return (
            f"logs: {len(records)} records, e.g. {records[0].body.string_value if records else '-'}"
        )
    if isinstance(request, mpb.ExportMetricsServiceRequest):
        names = {
            m.name for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
        }
        points = sum(1 for _ in _points(request))
        return f"metrics: {len(names)} metrics, {points} points"
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    errors = sum(1 for s in spans if s.status.code == 2)
    example = spans[0].name if spans else "-"
    return f"traces: {len(spans)} spans ({errors} with status ERROR), e.g. {example}"


class _Metrics(mgrpc.MetricsServiceServicer):
    def __init__(self, sink: Sink, closing: threading.Event) -> None:
        self.sink = sink
        self.closing = closing

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        _misbehave(self.sink, context, self.closing)
        self.sink.take(request, dict(context.invocation_metadata()))
        return mpb.ExportMetricsServiceResponse()


class _Logs(lgrpc.LogsServiceServicer):
    def __init__(self, sink: Sink, closing: threading.Event) -> None:
        self.sink = sink
        self.closing = closing

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        _misbehave(self.sink, context, self.closing)
        self.sink.take(request, dict(context.invocation_metadata()))
        return lpb.ExportLogsServiceResponse()


class _Traces(tgrpc.TraceServiceServicer):
    def __init__(self, sink: Sink, closing: threading.Event) -> None:
        self.sink = sink
        self.closing = closing

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        _misbehave(self.sink, context, self.closing)
        self.sink.take(request, dict(context.invocation_metadata()))
        return tpb.ExportTraceServiceResponse()


def _misbehave(sink: Sink, context: grpc.ServicerContext, closing: threading.Event) -> None:
    if sink.mode == "refuse":
        with sink.lock:
            sink.calls += 1
        context.abort(grpc.StatusCode.UNAVAILABLE, "refusing on purpose")
    if sink.mode == "slow":
        with sink.lock:
            sink.calls += 1
        closing.wait(sink.delay)  # the server's threads are joined at exit: never sleep past stop
        context.abort(grpc.StatusCode.UNAVAILABLE, "too slow on purpose")


class GrpcReceiver:
    """The Collector's OTLP/gRPC services on 127.0.0.1; TLS when given a (cert, key) PEM pair."""

    def __init__(self, sink: Sink, port: int = 0, tls: tuple[bytes, bytes] | None = None) -> None:
        self.sink = sink
        self.port = port
        self.tls = tls
        self._server: grpc.Server | None = None
        self._closing = threading.Event()

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._closing = threading.Event()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        mgrpc.add_MetricsServiceServicer_to_server(_Metrics(self.sink, self._closing), server)
        tgrpc.add_TraceServiceServicer_to_server(_Traces(self.sink, self._closing), server)
        lgrpc.add_LogsServiceServicer_to_server(_Logs(self.sink, self._closing), server)
        address = f"127.0.0.1:{self.port}"
        if self.tls is None:
            self.port = server.add_insecure_port(address)
        else:
            cert, key = self.tls
            credentials = grpc.ssl_server_credentials([(key, cert)])
            self.port = server.add_secure_port(address, credentials)
        server.start()
        self._server = server

    def stop(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None


class HttpReceiver:
    """OTLP/HTTP with protobuf bodies (gzip or deflate allowed) on 127.0.0.1; HTTPS when given
    a server SSL context."""

    def __init__(
        self, sink: Sink, port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.sink = sink
        self.port = port
        self.ssl_context = ssl_context
        self._runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/metrics", self._handler(mpb.ExportMetricsServiceRequest))
        app.router.add_post("/v1/traces", self._handler(tpb.ExportTraceServiceRequest))
        app.router.add_post("/v1/logs", self._handler(lpb.ExportLogsServiceRequest))
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(
            runner, "127.0.0.1", self.port, reuse_address=True, ssl_context=self.ssl_context
        )
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _handler(self, message: type) -> Any:
        async def handle(request: web.Request) -> web.Response:
            if request.content_type != "application/x-protobuf":
                return web.Response(status=415, text="protobuf only")
            body = await request.read()  # aiohttp undoes Content-Encoding (gzip, deflate)
            if self.sink.mode == "refuse":
                with self.sink.lock:
                    self.sink.calls += 1
                return web.Response(status=503, text="refusing on purpose")
            if self.sink.mode == "slow":
                with self.sink.lock:
                    self.sink.calls += 1
                await asyncio.sleep(self.sink.delay)
                return web.Response(status=503, text="too slow on purpose")
            parsed = message()
            parsed.ParseFromString(body)
            self.sink.take(parsed, {k.lower(): v for k, v in request.headers.items()})
            response = type(parsed).__name__.replace("Request", "Response")
            module = mpb if "Metrics" in response else lpb if "Logs" in response else tpb
            reply = module.__dict__[response]()
            return web.Response(
                body=reply.SerializeToString(), content_type="application/x-protobuf"
            )

        return handle


@dataclass
class Agent:
    """An App with its listener, for OTLP tests: ``scrape()`` reads /metrics as OpenMetrics."""

    app: App
    base: str
    session: aiohttp.ClientSession

    async def scrape(self) -> str:
        accept = {"Accept": "application/openmetrics-text; version=1.0.0"}
        async with self.session.get(self.base + "/metrics", headers=accept) as response:
            return await response.text()


@asynccontextmanager
async def otel_agent(workdir: Path, config_text: str, env: dict[str, str]) -> AsyncIterator[Agent]:
    """Run an App on ``config_text`` with ``env`` as its environment (OTEL_* variables) until
    the block ends; stopping it is part of the block, so tests can time it."""
    path = workdir / "oversight.yaml"
    path.write_text(config_text)
    app = App(path, listen="127.0.0.1:0", environ=env)
    runner = await serve(app)
    await app.start()
    session = aiohttp.ClientSession()
    try:
        yield Agent(app, f"http://127.0.0.1:{bound_port(runner)}", session)
    finally:
        await session.close()
        await app.stop()
        await runner.cleanup()


def otlp_of(app: App) -> OtlpOutput:
    """The App's OTLP output (there is always one; it may be inactive)."""
    return next(o for o in app.outputs if isinstance(o, OtlpOutput))


async def until(check: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    """Poll ``check`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        await asyncio.sleep(0.05)


async def _main() -> None:
    sink = Sink(verbose=True)
    grpc_receiver = GrpcReceiver(sink, 4317)
    grpc_receiver.start()
    http_receiver = HttpReceiver(sink, 4318)
    await http_receiver.start()
    print("OTLP receiver: gRPC on 127.0.0.1:4317, HTTP on 127.0.0.1:4318", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        grpc_receiver.stop()
        await http_receiver.stop()


if __name__ == "__main__":
    with suppress(KeyboardInterrupt):
        asyncio.run(_main())
