"""The listener: its own accept loop, so no client can exhaust descriptors or hold one forever.

aiohttp serves each connection, but the listener decides which connections it gets: it
accepts only while fewer than ``Limits.max_connections`` are open (the rest wait in the
kernel's backlog, costing this process no descriptor), closes a connection that has not sent
its headers in time, that idles too long, or whose request is stuck, and makes room for a new
client by closing the oldest one that is only waiting. A bad request is a 400 and at most a
throttled debug line; a failed TLS handshake likewise.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import select
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from enum import Enum
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from agent.web.limits import Limits
from agent.web.quiet import Throttled

log = logging.getLogger("oversight.web")

SWEEP_INTERVAL = 0.5  # seconds between deadline checks
ACCEPT_RETRY = 0.5  # seconds to wait after the process ran out of descriptors or memory
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class Phase(Enum):
    HANDSHAKE = "handshake"  # TLS, before the request's bytes
    HEADERS = "headers"  # waiting for a request's headers
    BUSY = "busy"  # a request is being handled or its answer written
    IDLE = "idle"  # kept alive between requests


class Connection:
    """One accepted socket: what it is doing since when, and how to close it."""

    __slots__ = ("closing", "peer", "phase", "since", "sock", "transport")

    def __init__(self, sock: socket.socket, peer: str, phase: Phase, now: float) -> None:
        self.sock, self.peer, self.phase, self.since = sock, peer, phase, now
        self.transport: asyncio.Transport | None = None
        self.closing = False

    def enter(self, phase: Phase, now: float) -> None:
        self.phase, self.since = phase, now

    def close(self) -> None:
        """Abort at once (nothing buffered is worth a descriptor held for a stuck client)."""
        self.closing = True
        if self.transport is not None:
            self.transport.abort()
            return
        with contextlib.suppress(OSError):  # mid-handshake: the TLS layer sees the stream end
            self.sock.shutdown(socket.SHUT_RDWR)


class Listener:
    """Accepts on bound sockets for one aiohttp ``Server``; ``tls()`` is read per connection,
    so a reloaded certificate or client-auth setting applies to the next connection."""

    def __init__(
        self,
        manager: Server,
        limits: Limits,
        tls: Callable[[], ssl.SSLContext | None],
    ) -> None:
        self.manager, self.limits, self.tls = manager, limits, tls
        self.deferred = False  # whether the sockets hand over connections only with data
        self.open: set[Connection] = set()
        self.closed_by_reason: dict[str, int] = {}
        self.bad_requests = Throttled(log, logging.DEBUG)
        self._handshakes = Throttled(log, logging.DEBUG)
        self._accept_errors = Throttled(log, logging.WARNING)
        self._room = asyncio.Event()
        self._sockets: list[socket.socket] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._timeouts = {
            Phase.HANDSHAKE: limits.read_header_timeout,
            Phase.HEADERS: limits.read_header_timeout,
            Phase.BUSY: limits.write_timeout,
            Phase.IDLE: limits.idle_timeout,
        }

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._sockets)

    def start(self, sockets: Iterable[socket.socket], deferred: bool = False) -> None:
        """Serve on listening, non-blocking sockets (see ``bind``); the listener owns them.
        ``deferred``: they were bound with a deferred accept, so a connection handed over
        without data has been silent for the whole deferral and is closed at once."""
        self.deferred = deferred
        for sock in sockets:
            self._sockets.append(sock)
            self._spawn(self._accept_forever(sock))
        self._spawn(self._sweep_forever())

    async def close(self) -> None:
        """Stop accepting and close every connection the listener still holds."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sock in self._sockets:
            sock.close()
        for conn in list(self.open):
            conn.close()

    def sweep(self, now: float) -> None:
        """Close every connection past its phase's deadline."""
        for conn in list(self.open):
            if not conn.closing and now - conn.since >= self._timeouts[conn.phase]:
                self._close(conn, f"{conn.phase.value}_timeout")

    def release(self, conn: Connection) -> None:
        if conn in self.open:
            self.open.discard(conn)
            self._room.set()

    def _close(self, conn: Connection, reason: str) -> None:
        self.closed_by_reason[reason] = self.closed_by_reason.get(reason, 0) + 1
        conn.close()

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweep_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            self.sweep(loop.time())

    async def _accept_forever(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._room_for_one(loop, listening)
            try:
                sock, address = await loop.sock_accept(listening)
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._accept_errors.note(
                        "cannot accept a connection: %s; retrying", exc.strerror or exc
                    )
                    await asyncio.sleep(ACCEPT_RETRY)
                continue  # otherwise the client left before it was accepted
            if self.deferred and _silent(sock):  # it said nothing for a read-header timeout
                self.closed_by_reason["silent"] = self.closed_by_reason.get("silent", 0) + 1
                sock.close()
                continue
            context = self.tls()
            phase = Phase.HEADERS if context is None else Phase.HANDSHAKE
            conn = Connection(sock, _peer(address), phase, loop.time())
            self.open.add(conn)
            self._spawn(self._connect(conn, context))

    async def _room_for_one(
        self, loop: asyncio.AbstractEventLoop, listening: socket.socket
    ) -> None:
        """Wait until one more connection fits; while a client waits to be accepted, close the
        oldest connection that is only waiting, if one has waited long enough."""
        while len(self.open) >= self.limits.max_connections:
            self._room.clear()
            if _pending(listening):
                self._evict_one(loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), self.limits.eviction_grace / 4)

    def _evict_one(self, now: float) -> None:
        if any(conn.closing for conn in self.open):
            return  # one is on its way out already
        waiting = [
            conn
            for conn in self.open
            if conn.phase is not Phase.BUSY and now - conn.since >= self.limits.eviction_grace
        ]
        if waiting:
            self._close(min(waiting, key=lambda conn: conn.since), "evicted")

    async def _connect(self, conn: Connection, context: ssl.SSLContext | None) -> None:
        loop = asyncio.get_running_loop()
        if context is not None and _answered_plain_http(conn.sock):
            self._handshakes.note("plain HTTP from %s to the TLS port: answered 400", conn.peer)
            conn.sock.close()
            self.release(conn)
            return
        try:
            await loop.connect_accepted_socket(
                lambda: _Handler(self, conn),
                conn.sock,
                ssl=context,
                ssl_handshake_timeout=self.limits.read_header_timeout if context else None,
            )
        except asyncio.CancelledError:
            conn.sock.close()
            self.release(conn)
            raise
        except Exception as exc:  # the client's fault (a failed handshake): one quiet line
            self._handshakes.note("connection from %s failed to start: %s", conn.peer, exc)
            conn.sock.close()
            self.release(conn)


class _Handler(RequestHandler):
    """aiohttp's protocol for one connection, reporting its phases to the listener and
    answering a malformed request with a 400 and no traceback."""

    def __init__(self, listener: Listener, conn: Connection) -> None:
        limits = listener.limits
        super().__init__(
            listener.manager,
            loop=asyncio.get_running_loop(),
            # the listener's own deadlines come first; aiohttp's are a backstop, late enough
            # that a sweep the loop ran late still closes it, and says why
            keepalive_timeout=2 * limits.idle_timeout + SWEEP_INTERVAL,
            lingering_time=min(2.0, limits.read_header_timeout),
            access_log=None,  # type: ignore[arg-type]  # aiohttp takes None: no access log
        )
        self.listener, self.conn = listener, conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.conn.transport = transport  # type: ignore[assignment]
        if self.conn.phase is Phase.HANDSHAKE:  # the header deadline still runs from the accept
            self.conn.phase = Phase.HEADERS
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self.listener.release(self.conn)

    def data_received(self, data: bytes) -> None:
        if data and self.conn.phase is Phase.IDLE:  # the next request's first byte
            self.conn.enter(Phase.HEADERS, self._loop.time())
        super().data_received(data)

    async def finish_response(
        self, request: BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        try:
            return await super().finish_response(request, resp, start_time)
        finally:
            self.conn.enter(Phase.IDLE, self._loop.time())

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:  # the agent's own fault: aiohttp logs it with its traceback
            return super().handle_error(request, status, exc, message)
        reason = _first_line(message or (str(exc) if exc else "") or HTTPStatus(status).phrase)
        self.listener.bad_requests.note("bad request from %s: %s", self.conn.peer, reason)
        if request.writer.output_size > 0:
            raise ConnectionError("the answer had begun; the connection is closed instead")
        response = web.Response(
            status=status, text=f"{status} {HTTPStatus(status).phrase}: {reason}\n"
        )
        response.force_close()
        return response


@web.middleware
async def mark_busy(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Marks a connection busy while its request is handled; the outermost middleware."""
    protocol = request.protocol
    if isinstance(protocol, _Handler):
        protocol.conn.enter(Phase.BUSY, asyncio.get_running_loop().time())
    return await handler(request)


def bind(
    host: str | None, port: int, backlog: int, defer: float | None = None
) -> list[socket.socket]:
    """Listening sockets for ``host:port`` (every interface when ``host`` is None), as
    ``loop.create_server`` makes them: one per address family, IPv6 sockets IPv6 only.

    With ``defer`` (seconds), Linux hands over a connection only once its first bytes have
    arrived, or that long after it was made (TCP_DEFER_ACCEPT, as nginx's ``deferred``): a
    client that connects and says nothing holds no descriptor and no place in the accept
    queue meanwhile, and a client that speaks at once is never queued behind it."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if defer is not None and deferred_accept():
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, max(1, round(defer)))
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def deferred_accept() -> bool:
    """Whether ``bind`` can defer accepts here (Linux)."""
    return hasattr(socket, "TCP_DEFER_ACCEPT")


PLAIN_HTTP_ANSWER = (  # what Go's http.Server answers, so a scrape's error says what is wrong
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)


def _answered_plain_http(sock: socket.socket) -> bool:
    """If the first bytes on a TLS port are a plain HTTP request (letters, where a TLS
    handshake starts with 0x16), answer it with a 400 and say so; else leave them be."""
    try:
        first = sock.recv(8, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:
        return False
    if not first[:1].isalpha():
        return False
    with contextlib.suppress(OSError):
        sock.recv(65536, socket.MSG_DONTWAIT)  # read what came, so closing sends no reset
        sock.send(PLAIN_HTTP_ANSWER)
        sock.shutdown(socket.SHUT_WR)
    return True


def _pending(listening: socket.socket) -> bool:
    """Whether a connection waits in the listening socket's accept queue."""
    poll = select.poll()
    poll.register(listening, select.POLLIN)
    return bool(poll.poll(0))


def _silent(sock: socket.socket) -> bool:
    """No byte to read (or the client already left): nothing was said."""
    try:
        return not sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except OSError:
        return True


def _peer(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address)


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."
