"""The agent's HTTP listener: /metrics, /healthz, /readyz, /api/v1/status, /, /-/reload."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import choose_encoder

from agent.compliance.api import compliance_routes
from agent.status import render_page, status_document
from exporters.exposition import Renderer
from exporters.prometheus import SnapshotCollector

if TYPE_CHECKING:
    from agent.app import App


def make_web_app(app: App) -> web.Application:
    """Routes over one App; the registry is built once, the metrics at each scrape."""
    registry = CollectorRegistry(auto_describe=False)  # process_* only: the rest is rendered
    ProcessCollector(registry=registry)
    steps = SnapshotCollector(app.snapshot).steps
    renderers = {False: Renderer(steps), True: Renderer(steps, openmetrics=True)}

    async def metrics(request: web.Request) -> web.StreamResponse:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        renderer = renderers[content_type.startswith("application/openmetrics-text")]
        response = web.StreamResponse(headers={"Content-Type": content_type})
        chunks = renderer.stream(app.snapshot(), lambda: encoder(registry))
        first = await anext(chunks)  # rendered before the headers go: a failure is a 500
        await response.prepare(request)
        await response.write(first)
        async for chunk in chunks:  # each chunk is freed once written
            await response.write(chunk)
        await response.write_eof()
        return response

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        ready, reason = app.ready
        return web.Response(text=reason + "\n", status=200 if ready else 503)

    async def status(_: web.Request) -> web.Response:
        document = status_document(app.snapshot(), app.redactor)
        return web.Response(text=json.dumps(document, indent=1), content_type="application/json")

    async def page(_: web.Request) -> web.Response:
        html = render_page(status_document(app.snapshot(), app.redactor))
        return web.Response(text=html, content_type="text/html")

    async def reload(_: web.Request) -> web.Response:
        outcome = await app.reload()
        if outcome.ok:
            return web.Response(text="reloaded\n")
        return web.Response(
            text="reload failed, running config kept:\n" + "\n".join(outcome.errors) + "\n",
            status=400,
        )

    web_app = web.Application()
    web_app.add_routes(
        [
            web.get("/metrics", metrics),
            web.get("/healthz", healthz),
            web.get("/readyz", readyz),
            web.get("/api/v1/status", status),
            web.get("/", page),
            web.post("/-/reload", reload),
            *compliance_routes(app),
        ]
    )
    return web_app


def split_listen(listen: str) -> tuple[str | None, int]:
    """``host:port``, ``:port`` (all interfaces) or ``[::1]:port``."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"listen address {listen!r} is not host:port")
    return (host.strip("[]") or None), int(port)


class ListenError(Exception):
    """The listen address cannot be served (taken, not ours, malformed): said in one line.

    ``in_use`` tells a port another process holds, the one case where moving elsewhere helps.
    """

    def __init__(self, message: str, *, in_use: bool = False) -> None:
        super().__init__(message)
        self.in_use = in_use


def _listen_error(listen: str, exc: OSError) -> ListenError:
    if isinstance(exc, socket.gaierror):  # an unknown host name: its errno is not an OS one
        reason = exc.strerror or str(exc)
    elif exc.errno:  # asyncio wraps the OS message in its own sentence; the errno says it all
        reason = os.strerror(exc.errno)
    else:
        reason = str(exc)
    reason = reason[:1].lower() + reason[1:]
    return ListenError(f"cannot listen on {listen}: {reason}", in_use=exc.errno == errno.EADDRINUSE)


def _address(listen: str) -> tuple[str | None, int]:
    try:
        return split_listen(listen)
    except ValueError as exc:
        raise ListenError(str(exc)) from None


async def check_listen(listen: str) -> None:
    """Raise :class:`ListenError` now if ``listen`` cannot be bound, binding it the way
    :func:`serve` will and letting it go (for the demo, before it starts its services)."""
    host, port = _address(listen)
    try:
        server = await asyncio.get_running_loop().create_server(asyncio.Protocol, host, port)
    except OSError as exc:
        raise _listen_error(listen, exc) from None
    server.close()
    await server.wait_closed()


async def serve(app: App) -> web.AppRunner:
    """Start the listener; the caller cleans up the returned runner. Raises
    :class:`ListenError` (having cleaned up) when the address cannot be bound."""
    host, port = _address(app.listen)
    runner = web.AppRunner(make_web_app(app), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise _listen_error(app.listen, exc) from None
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port actually bound (for ``:0`` in tests and the demo)."""
    for site in runner.sites:
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            return int(server.sockets[0].getsockname()[1])
    raise RuntimeError("listener is not bound")
