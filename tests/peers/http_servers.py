"""Loopback HTTP(S) peers for tests: an aiohttp target app, raw sockets, TLS certificates.

Everything binds 127.0.0.1 port 0. ``serve(app)`` runs any aiohttp app; ``peer_app()`` is a
target with the routes most probe tests need and a record of what it received;
``raw_server(handler)`` is a bare TCP server for peers that do not speak HTTP properly;
``Certs`` issues trustme certificates (valid, expired, wrong host, self-signed).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import ipaddress
import json
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from time import sleep as time_sleep

import trustme
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from multidict import CIMultiDict, CIMultiDictProxy

JSON_DOC = {"status": "UP", "data": {"items": [{"id": 7, "name": "first"}], "count": 1}}
MiB = 1 << 20


@dataclass(frozen=True)
class Seen:
    """One request as the peer received it."""

    method: str
    path: str
    headers: CIMultiDictProxy[str]  # case-insensitive, as HTTP header names are
    body: bytes


@dataclass
class PeerState:
    """What the peer app saw and sent, for assertions."""

    requests: list[Seen] = field(default_factory=list)
    streamed_bytes: int = 0

    def last(self, path: str | None = None) -> Seen:
        matching = [r for r in self.requests if path is None or r.path == path]
        assert matching, f"the peer never saw {path or 'a request'}"
        return matching[-1]


STATE = web.AppKey("state", PeerState)


Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _record(request: web.Request, handler: Route) -> web.StreamResponse:
    body = await request.read()
    seen = Seen(request.method, request.path, CIMultiDictProxy(CIMultiDict(request.headers)), body)
    request.app[STATE].requests.append(seen)
    return await handler(request)


async def _status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    return web.Response(status=code, text=f"status {code}")


async def _json(_: web.Request) -> web.Response:
    return web.json_response(JSON_DOC)


async def _text(request: web.Request) -> web.Response:
    return web.Response(text=request.query.get("text", "hello, world"))


async def _headers(_: web.Request) -> web.Response:
    response = web.Response(text="ok", headers={"X-Custom": "abc", "Cache-Control": "no-store"})
    response.headers.add("X-Multi", "one")
    response.headers.add("X-Multi", "two")
    return response


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {"method": request.method, "headers": dict(request.headers), "body": body.decode()}
    )


async def _gzip(_: web.Request) -> web.Response:
    raw = json.dumps({"compressed": True, "padding": "x" * 4000}).encode()
    return web.Response(
        body=gzip.compress(raw),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )


async def _redirect(request: web.Request) -> web.Response:
    hops = int(request.match_info["n"])
    if hops <= 0:
        return web.Response(text="arrived")
    raise web.HTTPFound(f"/redirect/{hops - 1}")


async def _redirect_to(request: web.Request) -> web.Response:
    status = int(request.query.get("status", "302"))
    return web.Response(status=status, headers={"Location": request.query["url"]})


async def _loop(_: web.Request) -> web.Response:
    raise web.HTTPFound("/loop")


async def _stream(request: web.Request) -> web.StreamResponse:
    """``size`` MiB in 64 KiB chunks, chunked (no Content-Length) unless ``?declared=1``."""
    total = int(request.match_info["mib"]) * MiB
    response = web.StreamResponse()
    if request.query.get("declared"):
        response.content_length = total
    await response.prepare(request)
    chunk = b"x" * (64 * 1024)
    state = request.app[STATE]
    sent = 0
    with suppress(ConnectionError, RuntimeError):
        while sent < total:
            await response.write(chunk)
            sent += len(chunk)
            state.streamed_bytes += len(chunk)
    return response


async def _trickle(request: web.Request) -> web.StreamResponse:
    """Promise 100 bytes, then send one a second."""
    response = web.StreamResponse()
    response.content_length = 100
    await response.prepare(request)
    with suppress(ConnectionError, RuntimeError):
        for _ in range(100):
            await response.write(b".")
            await asyncio.sleep(1)
    return response


def peer_app() -> web.Application:
    """An app with the routes probe tests use; ``app[STATE]`` records what it saw."""
    app = web.Application(middlewares=[_record])
    app[STATE] = PeerState()
    app.router.add_route("*", "/status/{code:\\d+}", _status)
    app.router.add_get("/json", _json)
    app.router.add_get("/text", _text)
    app.router.add_get("/headers", _headers)
    app.router.add_route("*", "/echo", _echo)
    app.router.add_get("/gzip", _gzip)
    app.router.add_route("*", "/redirect/{n:\\d+}", _redirect)
    app.router.add_route("*", "/redirect-to", _redirect_to)
    app.router.add_get("/loop", _loop)
    app.router.add_get("/stream/{mib:\\d+}", _stream)
    app.router.add_get("/trickle", _trickle)
    return app


@dataclass(frozen=True)
class Running:
    """A peer that is up: ``url("/json")`` -> its address; ``state`` what it saw."""

    base: str
    app: web.Application

    def url(self, path: str = "/") -> str:
        return self.base + path

    @property
    def state(self) -> PeerState:
        return self.app[STATE]


@asynccontextmanager
async def serve(
    app: web.Application, *, ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[Running]:
    """Run ``app`` on ``host`` port 0 until the block ends."""
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    scheme = "https" if ssl_context else "http"
    try:
        yield Running(f"{scheme}://{host}:{port}", app)
    finally:
        await runner.cleanup()


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[int]:
    """A bare TCP server on 127.0.0.1; yields its port. Handlers are cancelled at the end."""
    tasks: set[asyncio.Task[None]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def never_answer(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
    """Accept, read the request, say nothing."""
    await reader.read(65536)
    await asyncio.Event().wait()


def answer_with(raw: bytes) -> Handler:
    """Read the request head, reply ``raw`` verbatim, close."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(raw)
        await writer.drain()

    return handler


@contextmanager
def static_site(directory: Path, port: int) -> Iterator[str]:
    """A healthy target: Python's threaded file server in a process of its own (so that what
    a test does on its own event loop, or hostile clients in it, cannot slow it down), serving
    ``ok`` at ``/``. Yields its base URL."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.html").write_text("ok\n")
    peer = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):  # until it listens
            with socket.socket() as probe, suppress(OSError):
                probe.connect(("127.0.0.1", port))
                break
            if peer.poll() is not None:
                raise RuntimeError("the static site did not start")
            time_sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        peer.terminate()
        with suppress(subprocess.TimeoutExpired):
            peer.wait(5)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Certs:
    """A trustme CA and server contexts it signs; ``ca_file`` is what a client trusts."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = str(directory / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)

    def server_context(
        self,
        *hosts: str,
        expired: bool = False,
        max_version: ssl.TLSVersion | None = None,
    ) -> ssl.SSLContext:
        """A server context for ``hosts`` (default 127.0.0.1 and localhost)."""
        now = dt.datetime.now(dt.UTC)
        cert = self.ca.issue_cert(
            *(hosts or ("127.0.0.1", "localhost")),
            not_before=now - dt.timedelta(days=30) if expired else None,
            not_after=now - dt.timedelta(days=1) if expired else None,
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        if max_version is not None:
            context.maximum_version = max_version
        return context


def self_signed_context(host: str = "127.0.0.1") -> ssl.SSLContext:
    """A server context whose certificate signs itself (trusted by nobody)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False
        )
        .sign(key, hashes.SHA256())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with trustme.Blob(pem + key_pem).tempfile() as path:
        context.load_cert_chain(path)
    return context
