"""What the listener serves: /metrics, /healthz, /readyz, /api/v1/status, the page, the API."""

from __future__ import annotations

import json
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


def agent_routes(app: App) -> list[web.RouteDef]:
    """The read-only routes over one App; the registry is built once, the metrics at each
    scrape."""
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

    return [
        web.get("/metrics", metrics),
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/api/v1/status", status),
        web.get("/", page),
        *compliance_routes(app),
    ]


def split_listen(listen: str) -> tuple[str | None, int]:
    """``host:port``, ``:port`` (all interfaces) or ``[::1]:port``."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"listen address {listen!r} is not host:port")
    return (host.strip("[]") or None), int(port)
