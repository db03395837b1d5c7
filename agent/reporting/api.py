"""``GET /api/v1/compliance``, ``/api/v1/audit?since=24h`` and ``/api/v1/flows?since=24h``: the
report's data, served."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agent.audit.read import count_types, parse_since, read_events
from agent.reporting.document import compliance_document
from agent.reporting.workflows import workflow_document

if TYPE_CHECKING:
    from agent.app import App

MAX_EVENTS = 10_000


def _json(document: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(document, indent=1), status=status, content_type="application/json"
    )


def parse_limit(text: str) -> int:
    """``limit``: a whole number of events from 1 to MAX_EVENTS."""
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_EVENTS:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_EVENTS}, not {text[:40]!r}")
    return int(text)


def compliance_routes(app: App) -> list[web.RouteDef]:
    async def compliance(_: web.Request) -> web.Response:
        snap = app.snapshot()
        view = snap.compliance or app.compliance.view()
        return _json(
            compliance_document(view, snap.plan, generated=snap.taken, scrub=app.redactor.scrub)
        )

    async def audit(request: web.Request) -> web.Response:
        """``since`` (24h, an RFC 3339 time or unix seconds; default 24h), ``until``,
        ``type`` (repeatable) and ``limit`` (default 1000, newest kept)."""
        now = time.time()
        query = request.query
        try:
            since = parse_since(query.get("since", "24h"), now)
            until = parse_since(query["until"], now) if "until" in query else now
            limit = parse_limit(query.get("limit", "1000"))
        except ValueError as exc:
            return _json({"error": f"bad query: {exc}"}, status=400)
        if since > until:
            return _json({"error": "bad query: since is after until"}, status=400)
        settings = app.plan.audit
        body: dict[str, Any] = {
            "enabled": settings is not None,
            "since": since,
            "until": until,
            "events": [],
        }
        if settings is not None:
            events = await asyncio.to_thread(
                read_events,
                settings.path,
                keep=settings.keep,
                since=since,
                until=until,
                types=query.getall("type", []),
                limit=limit,
            )
            audit = app.audit
            stats = audit.stats if audit is not None else None
            body |= {
                "file": Path(settings.path).name,  # where it sits on disk is not the API's to say
                "events": events,
                "counts": count_types(events),
                "write_failures": stats.write_failures if stats else 0,
                "pending": stats.pending if stats else 0,
            }
        return _json(body)

    async def flows(request: web.Request) -> web.Response:
        """Each flow over ``since`` (default 24h) to ``until`` (default now), rounded out to
        the hours the agent keeps (a week at most)."""
        now = time.time()
        try:
            since = parse_since(request.query.get("since", "24h"), now)
            until = parse_since(request.query["until"], now) if "until" in request.query else now
        except ValueError as exc:
            return _json({"error": str(exc)}, status=400)
        return _json(workflow_document(app.plan, app.store.flows, since=since, until=until))

    return [
        web.get("/api/v1/compliance", compliance),
        web.get("/api/v1/audit", audit),
        web.get("/api/v1/flows", flows),
    ]
