"""Loopback grpc.aio servers with (or without) the standard health service, recording metadata;
and one that refuses calls with the caller's own metadata in its error details."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from tests.peers.tls_servers import Pem

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class GrpcPeer:
    """A running server: where it listens and the metadata of every call it received."""

    port: int
    health: health_aio.HealthServicer | None
    metadata: list[dict[str, str | bytes]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


class _EchoingHealth(health_pb2_grpc.HealthServicer):
    """SERVING, except every ``deny_every``-th call: PERMISSION_DENIED, its details repeating
    the metadata the call carried (a careless server quoting the credential it rejects)."""

    def __init__(self, deny_every: int) -> None:
        self.deny_every = deny_every
        self.calls = 0

    async def Check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.calls += 1
        if self.calls % self.deny_every == 0:
            seen = ", ".join(
                f"{key}={value!s}" for key, value in context.invocation_metadata() or ()
            )
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"denied for {seen}")
        return health_pb2.HealthCheckResponse(status=SERVING)


class _Recorder(grpc.aio.ServerInterceptor):
    def __init__(self, sink: list[dict[str, str | bytes]]) -> None:
        self.sink = sink

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        self.sink.append(dict(details.invocation_metadata or ()))
        return await continuation(details)


@contextlib.asynccontextmanager
async def serve_grpc(
    statuses: Mapping[str, Any] | None = None,
    *,
    health: bool = True,
    pem: Pem | None = None,
) -> AsyncIterator[GrpcPeer]:
    """A grpc.aio server on 127.0.0.1 port 0; TLS with ``pem``, plaintext without.

    ``statuses`` maps service names ("" is the whole server) to a ServingStatus; without
    ``health`` the server implements nothing, so every call is UNIMPLEMENTED.
    """
    sink: list[dict[str, str | bytes]] = []
    server = grpc.aio.server(interceptors=[_Recorder(sink)])
    servicer = None
    if health:
        servicer = health_aio.HealthServicer()
        for name, status in (statuses if statuses is not None else {"": SERVING}).items():
            await servicer.set(name, status)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if pem is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        credentials = grpc.ssl_server_credentials(
            [(pem.key_file.read_bytes(), pem.cert_file.read_bytes())]
        )
        port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    try:
        yield GrpcPeer(port, servicer, sink)
    finally:
        await server.stop(None)


@contextlib.asynccontextmanager
async def serve_echoing_grpc(deny_every: int = 1) -> AsyncIterator[GrpcPeer]:
    """A plaintext server whose Check refuses every ``deny_every``-th call, quoting the call's
    metadata in the error details, and answers SERVING otherwise."""
    sink: list[dict[str, str | bytes]] = []
    server = grpc.aio.server(interceptors=[_Recorder(sink)])
    health_pb2_grpc.add_HealthServicer_to_server(_EchoingHealth(deny_every), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield GrpcPeer(port, None, sink)
    finally:
        await server.stop(None)
