"""Simulated integrations on loopback: one aiohttp server each, with faults switched at run time."""

from __future__ import annotations

import asyncio
import datetime
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web

from agent.demo import payments
from agent.demo.capacity import Pool, RateLimit, write_credentials
from agent.demo.config import agent_config, to_yaml
from agent.demo.contracts import write_demo_files
from agent.demo.routes import route_handler
from agent.demo.topology import IntegrationSpec, integrations

log = logging.getLogger("oversight.demo")

HOST = "127.0.0.1"
NEAR_EXPIRY = datetime.timedelta(days=5)
SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000",
    "X-Content-Type-Options": "nosniff",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Fault:
    """What a service is doing wrong right now; ``Fault()`` is healthy.

    ``latency`` seconds are added to every answer; ``status`` replaces every HTTP answer with
    that code and ``{"status": "DOWN"}``; ``down`` closes the listeners (connects are refused);
    ``near_expiry`` serves a certificate that expires in ~5 days; ``pool_leak`` loses that many
    database connections a second, never returned (clearing it restarts the pool);
    ``stale_tokens`` signs account tokens with a key the payment processor does not know
    (agent/demo/payments.py): healthy by every check but a transaction's.
    """

    latency: float = 0.0
    status: int | None = None
    down: bool = False
    near_expiry: bool = False
    pool_leak: float = 0.0
    stale_tokens: bool = False

    @property
    def healthy(self) -> bool:
        return not self.down and (self.status is None or self.status < 500)


class Service:
    """One simulated integration: an HTTP(S) listener, maybe a line listener, and its fault.

    The fault changes only through ``set_fault``/``update``, which also do what the change
    means for the listeners (stop/restart on the same port, swap the certificate).
    """

    def __init__(
        self, spec: IntegrationSpec, ca: trustme.CA | None, peers: Mapping[str, Service]
    ) -> None:
        self.spec = spec
        self._ca = ca
        self._peers = peers
        self._fault = Fault()
        self._ssl: ssl.SSLContext | None = None
        if ca is not None:
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._issue(near_expiry=False)
        self.pool = Pool(spec.pool) if spec.pool else None
        self.payments = payments.PaymentBook()
        self._rate_limit = RateLimit(spec.rate_limit) if spec.rate_limit else None
        app = web.Application(middlewares=[self._quota, self._headers, self._faults])
        app.router.add_get("/health", self._health)
        if self.pool is not None:
            app.router.add_get("/metrics", self._metrics)
        for route in spec.routes:
            app.router.add_route(route.method, route.path, route_handler(route, self))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        self._site: web.TCPSite | None = None
        self._line: asyncio.Server | None = None
        self._line_writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.line_port: int | None = None

    @property
    def fault(self) -> Fault:
        return self._fault

    @property
    def stale_tokens(self) -> bool:
        return self._fault.stale_tokens

    @property
    def url(self) -> str:
        return f"{'https' if self._ssl else 'http'}://{HOST}:{self.port}"

    async def start(self) -> None:
        """Bind the listeners (port 0 the first time, the same ports after an outage)."""
        if self._runner.server is None:
            await self._runner.setup()
        self._site = web.TCPSite(self._runner, HOST, self.port, ssl_context=self._ssl)
        await self._site.start()
        self.port = self._site.port
        if self.spec.line_protocol:
            self._line = await asyncio.start_server(self._line_client, HOST, self.line_port or 0)
            self.line_port = self._line.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self._close_listeners()
        await self._runner.cleanup()

    async def update(self, **changes: Any) -> None:
        """``await svc.update(status=503)``: change some fields of the current fault."""
        await self.set_fault(replace(self._fault, **changes))

    async def set_fault(self, fault: Fault) -> None:
        old, self._fault = self._fault, fault
        if self.pool is not None:
            self.pool.leak(fault.pool_leak)
        if fault.near_expiry != old.near_expiry and self._ssl is not None:
            self._issue(near_expiry=fault.near_expiry)
            self._drop_connections()  # like a reload: new connections see the new certificate
        if fault.down and not old.down:
            await self._close_listeners()
        elif old.down and not fault.down:
            await self.start()

    def healthy(self) -> bool:
        """Healthy itself and every dependency healthy (a deep health check, as in Spring)."""
        return self._fault.healthy and all(peer.healthy() for peer in self._dependencies())

    def _dependencies(self) -> Iterator[Service]:
        return (self._peers[key] for key in self.spec.depends_on if key in self._peers)

    def _issue(self, *, near_expiry: bool) -> None:
        assert self._ca is not None and self._ssl is not None
        not_after = None
        if near_expiry:
            not_after = datetime.datetime.now(datetime.UTC) + NEAR_EXPIRY
        cert = self._ca.issue_cert(self.spec.hostname, HOST, not_after=not_after)
        cert.configure_cert(self._ssl)  # load_cert_chain again: later handshakes use it

    async def _close_listeners(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None
        self._drop_connections()
        if self._line is not None:
            self._line.close()
            for writer in list(self._line_writers):
                writer.close()
            await self._line.wait_closed()
            self._line = None

    def _drop_connections(self) -> None:
        server = self._runner.server
        for handler in server.connections if server is not None else ():
            handler.force_close()

    @web.middleware
    async def _headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The security headers every answer carries, but those the spec says it forgets."""
        response = await handler(request)
        for name, value in SECURITY_HEADERS.items():
            if name not in self.spec.missing_headers:
                response.headers[name] = value
        return response

    @web.middleware
    async def _quota(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """A partner's rate limit: every answer tells the quota left; past it, 429."""
        if self._rate_limit is None:
            return await handler(request)
        allowed, headers = self._rate_limit.take()
        if not allowed:
            return web.json_response({"error": "rate limited"}, status=429, headers=headers)
        response = await handler(request)
        response.headers.update(headers)
        return response

    async def _metrics(self, request: web.Request) -> web.Response:
        assert self.pool is not None
        return web.Response(text=self.pool.exposition(), content_type="text/plain", charset="utf-8")

    @web.middleware
    async def _faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = self._fault
        if fault.latency:
            await asyncio.sleep(fault.latency)
        if fault.status is not None:
            return web.json_response(
                {"status": "DOWN", "service": self.spec.name, "error": "injected by the demo"},
                status=fault.status,
            )
        return await handler(request)

    async def _health(self, request: web.Request) -> web.Response:
        checks = {p.spec.key: "UP" if p.healthy() else "DOWN" for p in self._dependencies()}
        up = all(state == "UP" for state in checks.values())
        body: dict[str, Any] = {
            "status": "UP" if up else "DOWN",
            "service": self.spec.name,
            "version": "1.4.2",
        }
        if checks:
            body["checks"] = checks
        return web.json_response(body, status=200 if up else 503)

    async def _line_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """``PING`` -> ``PONG <name>``; a status fault answers ``ERR <status> unavailable``."""
        self._line_writers.add(writer)
        try:
            while line := await reader.readline():
                if self._fault.latency:
                    await asyncio.sleep(self._fault.latency)
                if self._fault.status is not None:
                    reply = f"ERR {self._fault.status} unavailable\n"
                elif line.strip().upper() == b"PING":
                    reply = f"PONG {self.spec.name}\n"
                else:
                    reply = "ERR 400 unknown command\n"
                writer.write(reply.encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._line_writers.discard(writer)
            writer.close()


class DemoServices(Mapping[str, Service]):
    """Every simulated integration, started, by key: ``demo["account/core_ledger"]``."""

    def __init__(self, workdir: Path, ca_file: Path, services: dict[str, Service]) -> None:
        self.workdir = workdir
        self.ca_file = ca_file
        self._services = services

    def __getitem__(self, key: str) -> Service:
        return self._services[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._services)

    def __len__(self) -> int:
        return len(self._services)

    def config(self, listen: str | None = None) -> dict[str, Any]:
        """The agent config (as plain data) that watches these services on their live ports."""
        return agent_config(self.values(), self.ca_file, listen=listen, workdir=self.workdir)

    def config_yaml(self, listen: str | None = None) -> str:
        return to_yaml(self.config(listen))

    async def heal(self) -> None:
        """Clear every fault."""
        for service in self.values():
            await service.set_fault(Fault())

    async def stop(self) -> None:
        """Close every listener and connection; the ports are free when this returns."""
        for service in self.values():
            await service.stop()


def _make_ca(workdir: Path) -> tuple[trustme.CA, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="Oversight demo CA")
    ca_file = workdir / "demo-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    write_demo_files(workdir)  # the partners' contracts and the demo token
    write_credentials(ca, workdir)  # our client certificate and API token, watched for expiry
    return ca, ca_file


async def start_services(workdir: Path) -> DemoServices:
    """Start every integration of the topology on 127.0.0.1 (port 0) and write the demo CA.

    External partners speak HTTPS with a certificate for ``<name>.demo.test`` (and 127.0.0.1)
    issued by a fresh CA whose PEM is ``workdir/demo-ca.pem``; internal services speak HTTP.
    """
    ca, ca_file = await asyncio.to_thread(_make_ca, workdir)
    services: dict[str, Service] = {}
    for spec in integrations():
        services[spec.key] = Service(spec, ca if spec.tls else None, services)
    demo = DemoServices(workdir, ca_file, services)
    try:
        for service in services.values():
            await service.start()
    except BaseException:
        await demo.stop()
        raise
    log.info("demo: %d simulated integrations listening on %s", len(services), HOST)
    return demo
