"""What the listener serves: /metrics, /healthz, /readyz, /api/v1/status, the page, the API."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from aiohttp import web

from agent.fields import split_host_port
from agent.reporting.api import compliance_routes
from agent.reporting.status import render_page, status_document

if TYPE_CHECKING:
    from agent.app import App


def agent_routes(app: App) -> list[web.RouteDef]:
    """The read-only routes over one App."""

    async def metrics(request: web.Request) -> web.StreamResponse:
        headers, chunks = app.metrics.exposition_for(
            request.headers.get("Accept", ""), request.headers.get("Accept-Encoding", "")
        )
        response = web.StreamResponse(headers=headers)
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
        # the agent's own asyncio tasks: a number that keeps growing is a leak (the soak
        # watches it); not a metric, so as not to spend a series on it
        document["agent"]["tasks"] = len(asyncio.all_tasks())
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
    host, port = split_host_port(listen, listen=True)
    return host or None, port
