"""The status page and the probe pages, their script and style sheet, and the JSON they read.

``/`` (``?refresh=5s``: how often the page polls; ``?pattern=`` shows one pattern),
``/probe/<pattern>/<integration>/<probe>``, ``/api/v1/status`` (``pattern`` narrows it),
``/api/v1/history`` (``pattern``, ``integration``, ``probe`` narrow it),
``/api/v1/probes/<pattern>/<integration>/<probe>`` and ``/assets/<name>``. An unknown name is
a 404 with a sentence; every answer is built from one snapshot, scrubbed, and names the
files the config mentions without saying where they sit.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agent.durations import parse_duration
from agent.plan import Plan
from agent.reporting.assets import MAX_AGE, TYPES, asset
from agent.reporting.history import history_document, unknown_name
from agent.reporting.paths import PathHider, plan_paths
from agent.reporting.probe_debug import probe_document
from agent.reporting.probe_page import render_not_found, render_probe_page
from agent.reporting.status import status_document
from agent.reporting.status_page import render_page
from agent.reporting.stream import pieces, resolved

if TYPE_CHECKING:
    from agent.app import App

REFRESH = 5.0  # seconds between the status page's polls, by default
REFRESH_RANGE = (1.0, 3600.0)


def _json(document: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(document, indent=1), status=status, content_type="application/json"
    )


async def _streamed(request: web.Request, document: Any) -> web.StreamResponse:
    """Written a few integrations at a time, yielding to the loop between pieces: at 10,000
    integrations the status document is megabytes, and the probes are not kept waiting."""
    response = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    await response.prepare(request)
    for piece in pieces(document):
        await response.write(piece.encode())
        await asyncio.sleep(0)
    await response.write_eof()
    return response


def parse_refresh(text: str | None) -> float:
    """``?refresh=``: ``2s``, ``1m`` or seconds, from 1 s to 1 h."""
    if text is None:
        return REFRESH
    low, high = REFRESH_RANGE
    try:
        seconds = parse_duration(text[:40])
    except ValueError:
        seconds = -1.0
    if not low <= seconds <= high:
        raise ValueError(f"refresh must be a duration from 1s to 1h, not {text[:40]!r}")
    return seconds


class _Paths:
    """The path hider of the running plan, made again only when a reload brings a new one."""

    def __init__(self) -> None:
        self._for: tuple[Plan, PathHider] | None = None

    def __call__(self, plan: Plan) -> PathHider:
        if self._for is None or self._for[0] is not plan:
            self._for = (plan, plan_paths(plan))
        return self._for[1]


def page_routes(app: App) -> list[web.RouteDef]:
    paths = _Paths()

    def names(request: web.Request) -> tuple[str, str, str]:
        info = request.match_info
        return info["pattern"], info["integration"], info["probe"]

    async def status(request: web.Request) -> web.StreamResponse:
        """``pattern`` narrows it to one pattern."""
        snap = app.snapshot()
        pattern = request.query.get("pattern")
        unknown = unknown_name(snap.plan, pattern)
        if unknown is not None:
            return _json({"error": unknown}, status=404)
        document = status_document(snap, app.redactor, paths(snap.plan), pattern)
        # the agent's own asyncio tasks: a number that keeps growing is a leak (the soak
        # watches it); not a metric, so as not to spend a series on it
        document["agent"]["tasks"] = len(asyncio.all_tasks())
        return await _streamed(request, document)

    async def history(request: web.Request) -> web.StreamResponse:
        query = request.query
        snap = app.snapshot()
        wanted = (query.get("pattern"), query.get("integration"), query.get("probe"))
        if wanted[0] is None and (wanted[1] is not None or wanted[2] is not None):
            return _json({"error": "integration and probe need a pattern"}, status=400)
        if wanted[1] is None and wanted[2] is not None:
            return _json({"error": "probe needs an integration"}, status=400)
        unknown = unknown_name(snap.plan, *wanted)
        if unknown is not None:
            return _json({"error": unknown}, status=404)
        return await _streamed(request, history_document(snap, *wanted))

    async def probe_json(request: web.Request) -> web.Response:
        snap = app.snapshot()
        unknown = unknown_name(snap.plan, *names(request))
        if unknown is not None:
            return _json({"error": unknown}, status=404)
        probe_id = "/".join(names(request))
        return _json(probe_document(snap, probe_id, app.redactor, paths(snap.plan)))

    async def probe_page(request: web.Request) -> web.Response:
        snap = app.snapshot()
        unknown = unknown_name(snap.plan, *names(request))
        if unknown is not None:
            return web.Response(
                text=render_not_found(unknown), status=404, content_type="text/html"
            )
        probe_id = "/".join(names(request))
        document = probe_document(snap, probe_id, app.redactor, paths(snap.plan))
        return web.Response(text=render_probe_page(document), content_type="text/html")

    async def page(request: web.Request) -> web.Response:
        try:
            refresh = parse_refresh(request.query.get("refresh"))
        except ValueError as exc:
            return web.Response(text=f"{exc}\n", status=400)
        snap = app.snapshot()
        pattern = request.query.get("pattern")
        unknown = unknown_name(snap.plan, pattern)
        if unknown is not None:
            return web.Response(
                text=render_not_found(unknown), status=404, content_type="text/html"
            )
        document = resolved(status_document(snap, app.redactor, paths(snap.plan), pattern))
        html = render_page(document, resolved(history_document(snap, pattern)), refresh)
        return web.Response(text=html, content_type="text/html")

    async def assets(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in TYPES:
            raise web.HTTPNotFound(text=f"there is no asset {name[:60]!r}\n")
        return web.Response(
            body=asset(name),
            content_type=TYPES[name],
            charset="utf-8",
            headers={"Cache-Control": f"max-age={MAX_AGE}"},
        )

    probe_path = "{pattern}/{integration}/{probe}"
    return [
        web.get("/", page),
        web.get(f"/probe/{probe_path}", probe_page),
        web.get("/api/v1/status", status),
        web.get("/api/v1/history", history),
        web.get(f"/api/v1/probes/{probe_path}", probe_json),
        web.get("/assets/{name}", assets),
    ]
