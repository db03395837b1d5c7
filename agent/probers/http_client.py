"""The http kind's aiohttp plumbing: one shared client, timed phases, errors as reasons."""

from __future__ import annotations

import errno
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, Any

import aiohttp
from pydantic import AfterValidator
from yarl import URL

from agent import __version__
from agent.probers.base import Endpoint, ProbeContext, ProbeFailed
from agent.probers.net import connect_error
from agent.probers.shared import Shared
from agent.redact import redact_url
from agent.results import Reason


def _http_url(value: str) -> str:
    try:
        url = URL(value)
    except ValueError:
        raise ValueError(f"{redact_url(value)!r} is not a URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{redact_url(value)!r} is not an http:// or https:// URL")
    return value


HttpUrlText = Annotated[str, AfterValidator(_http_url)]
"""An http:// or https:// URL with a host, kept as written; errors never show its secrets."""


def url_endpoint(url: str) -> Endpoint:
    """The endpoint of an http(s) URL: host, port (the scheme's default when none is written)
    and the URL itself without credentials."""
    parsed = URL(url)
    return Endpoint(parsed.host or "", parsed.port, redact_url(url))


_FAMILIES = {"auto": socket.AF_UNSPEC, "ip4": socket.AF_INET, "ip6": socket.AF_INET6}
USER_AGENT = f"Oversight/{__version__}"


class PhaseClock:
    """Times the phases aiohttp signals through callbacks, adding them to ``ctx.phases``.

    ``start`` moves the phase to the end of ``ctx.phases`` so the runner's timeout message
    ("during processing") names the phase in progress; ``stop_all`` closes whatever is still
    open, so a run cut short keeps what it measured. Phases add up over redirect hops, as
    blackbox's do. ``ssl_object`` is the TLS session of the latest connection made;
    ``tls_failed`` says a connection broke during its TLS handshake (a server that refuses
    our TLS versions may just hang up, which would otherwise read as a connect error).
    """

    def __init__(self, ctx: ProbeContext) -> None:
        self._ctx = ctx
        self._open: dict[str, float] = {}
        self.ssl_object: Any = None
        self.tls_failed = False

    def start(self, name: str) -> None:
        self._ctx.phases[name] = self._ctx.phases.pop(name, 0.0)
        self._open[name] = time.perf_counter()

    def stop(self, name: str) -> None:
        started = self._open.pop(name, None)
        if started is not None:
            self._ctx.phases[name] += time.perf_counter() - started

    def is_open(self, name: str) -> bool:
        return name in self._open

    def stop_all(self) -> None:
        for name in list(self._open):
            self.stop(name)


# The clock of the request the current task is making. Connection set-up runs in the task
# that asked for the connection, so the shared connector finds the right run's clock here.
_CURRENT: ContextVar[PhaseClock | None] = ContextVar("oversight_http_clock", default=None)


class _TimedConnector(aiohttp.TCPConnector):
    """A TCPConnector that splits connection set-up into TCP connect and TLS handshake.

    aiohttp reports connection creation as one step. Inside it, ``loop.create_connection``
    is handed an already connected socket and calls the protocol factory first thing, before
    the TLS handshake starts, then returns once the handshake is done. Wrapping the factory
    therefore marks the end of ``connect`` and the start of ``tls``. This overrides a private
    aiohttp method; if a future aiohttp renames it, phases degrade to none for connect/tls,
    requests keep working.
    """

    async def _resolve_host(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        # Resolution happens only for names (aiohttp answers IP literals itself).
        clock = _CURRENT.get()
        if clock is None or _ip_version(host) is not None:
            return await super()._resolve_host(host, port, *args, **kwargs)
        clock.start("resolve")
        try:
            return await super()._resolve_host(host, port, *args, **kwargs)
        finally:
            clock.stop("resolve")

    async def connect(self, *args: Any, **kwargs: Any) -> Any:
        connection = await super().connect(*args, **kwargs)
        # blackbox's "processing": connection ready -> response headers (request written inside).
        if (clock := _CURRENT.get()) is not None:
            clock.start("processing")
        return connection

    async def _wrap_create_connection(self, *args: Any, **kwargs: Any) -> Any:
        clock = _CURRENT.get()
        if clock is None or not args:
            return await super()._wrap_create_connection(*args, **kwargs)
        factory: Callable[[], Any] = args[0]
        tls = bool(kwargs.get("ssl"))

        def timed_factory() -> Any:
            clock.stop("connect")
            if tls:
                clock.start("tls")
            return factory()

        clock.start("connect")
        try:
            transport, protocol = await super()._wrap_create_connection(
                timed_factory, *args[1:], **kwargs
            )
        except Exception:
            clock.tls_failed = clock.tls_failed or clock.is_open("tls")
            raise
        finally:
            clock.stop("connect")
            clock.stop("tls")
        clock.ssl_object = transport.get_extra_info("ssl_object")
        return transport, protocol


class _TimedResponse(aiohttp.ClientResponse):
    """Ends "processing" when the response headers are in (as aiohttp's request_end signal).

    Phases used to be taken from aiohttp's trace signals; each request then sent about eight
    signals, each building a params object and awaiting a coroutine, most with no receiver:
    a few percent of a whole probe. The connector and this class see the same moments.
    """

    async def start(self, connection: Any) -> Any:
        try:
            return await super().start(connection)
        finally:
            if (clock := _CURRENT.get()) is not None:
                clock.stop("processing")


def _new_session(ip_protocol: str) -> aiohttp.ClientSession:
    connector = _TimedConnector(
        force_close=True,  # a fresh connection per probe: honest connect/TLS timings
        limit=0,  # the scheduler bounds concurrency, not the pool
        use_dns_cache=False,  # every probe resolves, like blackbox
        family=_FAMILIES[ip_protocol],
    )
    session = aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),  # probes never share cookies
        timeout=aiohttp.ClientTimeout(total=None),  # the runner's deadline bounds each run
        response_class=_TimedResponse,
        auto_decompress=True,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )
    # aiohttp retries an idempotent request once when a pooled connection turns out dead.
    # Our connections are never pooled, so a retry would only hide a failing target and
    # double its timings. There is no public switch.
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
    return session


class HttpClients:
    """The http kind's sessions, one per ``ip_protocol``, kept in ``Shared.resources``.

    Created lazily on the first probe (a session needs the running loop) and closed with
    the other shared resources when the App stops.
    """

    KEY = "http"

    def __init__(self) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    @classmethod
    def of(cls, shared: Shared) -> HttpClients:
        clients = shared.resources.get(cls.KEY)
        if not isinstance(clients, cls):
            clients = shared.resources[cls.KEY] = cls()
        return clients

    def session(self, ip_protocol: str) -> aiohttp.ClientSession:
        session = self._sessions.get(ip_protocol)
        if session is None or session.closed:
            session = self._sessions[ip_protocol] = _new_session(ip_protocol)
        return session

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()


@contextmanager
def watching(clock: PhaseClock) -> Iterator[PhaseClock]:
    """Let the shared connector time this task's connections on ``clock``."""
    token = _CURRENT.set(clock)
    try:
        yield clock
    finally:
        _CURRENT.reset(token)
        clock.stop_all()


def failure(exc: BaseException, host: str) -> ProbeFailed:
    """The reason an aiohttp or socket exception stands for (messages not yet scrubbed)."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        cause = exc.os_error
        return ProbeFailed(Reason.DNS_ERROR, f"cannot resolve {host}: {cause.strerror or cause}")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return connect_error(exc.certificate_error)
    if isinstance(exc, aiohttp.ClientConnectorError):
        if exc.os_error.errno == errno.ECONNREFUSED:
            return ProbeFailed(Reason.CONNECT_REFUSED, "connection refused")
        return connect_error(exc.os_error)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ProbeFailed(Reason.CONNECT_ERROR, "the server closed the connection unanswered")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ProbeFailed(Reason.PROTOCOL_ERROR, f"malformed body: {exc}")
    if isinstance(exc, aiohttp.ClientResponseError):
        return ProbeFailed(Reason.PROTOCOL_ERROR, f"malformed response: {exc.message}")
    if isinstance(exc, aiohttp.InvalidURL):
        return ProbeFailed(Reason.PROTOCOL_ERROR, "invalid URL")
    if isinstance(exc, OSError | ssl.SSLError):
        return connect_error(exc)
    return ProbeFailed(Reason.CONNECT_ERROR, f"{type(exc).__name__}: {exc}")


@functools.lru_cache(maxsize=4096)
def _ip_version(host: str) -> int | None:
    """4 or 6 for an IP literal, None for a name (cached: parsing costs µs on every run)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).version
    except ValueError:
        return None


def check_family(host: str, ip_protocol: str) -> None:
    """aiohttp silently finds no address for an IP literal of the other family; say why."""
    version = _ip_version(host)
    if version is None:
        return
    if ip_protocol != "auto" and ip_protocol != f"ip{version}":
        raise ProbeFailed(Reason.DNS_ERROR, f"{host} is not an {ip_protocol} address")


def redirect_target(url: URL, location: str) -> URL:
    """Where a redirect leads (relative Locations resolved); only http(s) is followed."""
    try:
        target = url.join(URL(location))
    except ValueError:
        raise ProbeFailed(Reason.PROTOCOL_ERROR, "redirect to a malformed Location") from None
    if target.scheme not in ("http", "https") or not target.host:
        raise ProbeFailed(
            Reason.PROTOCOL_ERROR, f"redirect to a non-HTTP URL {redact_url(str(target))}"
        )
    return target.with_user(None)
