"""Hostile loopback peers for the fault suite, beside the plainer ones of this package.

Raw-socket handlers (for ``http_servers.raw_server``): ``slow_headers`` (a header line every
``every`` seconds, never the blank line), ``reset_after_request`` (RST once the request is
read), ``answer_with`` replies (``gzip_bomb``, ``truncated``, ``bad_status``). Servers:
``tarpit`` (a listener whose backlog is full: connecting never completes), ``hanging_grpc``
(gRPC that accepts the call and never answers), ``metrics_forever`` (a Prometheus endpoint
that streams samples without end). ``commands`` writes Nagios plugins that misbehave.
Clients for the agent's own listener: ``idle_client`` and ``slow_client``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import struct
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2_grpc

MiB = 1 << 20
HOST = "127.0.0.1"


@contextlib.contextmanager
def tarpit() -> Iterator[int]:
    """A port whose accept queue is full and never drained: a client's SYN is dropped, so its
    connect hangs (as behind a firewall that drops). Yields the port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fillers = []
    try:
        for _ in range(3):  # the queue holds backlog + 1; the rest wait in SYN retries
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        server.close()


def slow_headers(every: float = 0.5):  # type: ignore[no-untyped-def]
    """Answer a status line at once, then one header line every ``every`` seconds, forever."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n")
        while True:
            await writer.drain()
            await asyncio.sleep(every)
            writer.write(b"X-Slow: still-coming\r\n")

    return handler


async def reset_after_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request, then reset the connection (SO_LINGER 0: an RST, not a FIN)."""
    await reader.readuntil(b"\r\n\r\n")
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@functools.cache
def gzip_bomb(mib: int = 256) -> bytes:
    """A 200 whose gzip body of a few hundred KiB inflates to ``mib`` MiB of zeros."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    zeros = bytes(MiB)
    body = b"".join(packer.compress(zeros) for _ in range(mib)) + packer.flush()
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


# A 200 that promises 1,000 bytes and sends 5 before closing.
TRUNCATED = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nshort"
# A status line that is not one.
BAD_STATUS = b"HTTP/1.1 two hundred OK\r\nContent-Length: 0\r\n\r\n"


class _Hanging(health_pb2_grpc.HealthServicer):
    async def Check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await asyncio.Event().wait()  # the call is accepted and never answered


@contextlib.asynccontextmanager
async def hanging_grpc() -> AsyncIterator[int]:
    """A gRPC server whose health Check never answers; yields its port."""
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(_Hanging(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


def metrics_forever() -> web.Application:
    """``/metrics``: Prometheus text that never ends (a sample every few microseconds)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain; version=0.0.4"})
        await response.prepare(request)
        line = b"".join(b'pool_in_use{pool="p%d"} 1\n' % n for n in range(1000))
        with contextlib.suppress(ConnectionError, RuntimeError):
            while True:
                await response.write(line)
        return response

    app = web.Application()
    app.router.add_get("/metrics", handle)
    return app


# Nagios plugins that misbehave, by name: each a POSIX shell script.
COMMANDS = {
    # never ends: the timeout must kill it
    "hangs": "sleep 3600\n",
    # ignores SIGTERM, and its child holds the output pipe open
    "stubborn": "trap '' TERM\n(trap '' TERM; sleep 3600) &\nsleep 3600\n",
    # output without end
    "floods": "while :; do echo 'OK - all good|a=1;;;;'; done\n",
    # killed by a signal
    "killed": "kill -9 $$\n",
    # says nothing, exit code out of range
    "weird": "exit 42\n",
}


def commands(directory: Path) -> dict[str, Path]:
    """Write every plugin of ``COMMANDS`` into ``directory``; name -> executable path."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, body in COMMANDS.items():
        path = directory / f"check_{name}"
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
        paths[name] = path
    return paths


# --- clients of the agent's listener -------------------------------------------------------


async def idle_client(port: int, until: float, closed: list[int], host: str = HOST) -> None:
    """Connects and says nothing; connects again whenever the agent closes it."""
    while time.monotonic() < until:
        try:
            async with asyncio.timeout(max(0.1, until - time.monotonic())):
                reader, writer = await asyncio.open_connection(host, port)
                try:
                    await reader.read()
                    closed[0] += 1
                finally:
                    writer.close()
        except (TimeoutError, OSError):
            await asyncio.sleep(0.05)


async def slow_client(port: int, until: float, closed: list[int], host: str = HOST) -> None:
    """Sends a request's headers a line every half second and never finishes them."""
    while time.monotonic() < until:
        try:
            async with asyncio.timeout(max(0.1, until - time.monotonic())):
                reader, writer = await asyncio.open_connection(host, port)
                try:
                    writer.write(b"GET /metrics HTTP/1.1\r\nHost: agent\r\n")
                    while not reader.at_eof():
                        await asyncio.sleep(0.5)
                        writer.write(b"X-Slow: still-coming\r\n")
                        await writer.drain()
                except ConnectionError:
                    pass
                finally:
                    writer.close()
                closed[0] += 1
        except (TimeoutError, OSError):
            await asyncio.sleep(0.05)
