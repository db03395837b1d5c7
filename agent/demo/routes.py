"""The answers of the demo's business routes: fixed JSON, or the bill payment chain's logic."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from agent.demo import payments
from agent.demo.contracts import TOKEN
from agent.demo.topology import Route

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_handler(route: Route, owner: payments.Owner) -> Handler:
    """What ``route`` answers in the service ``owner``; a protected route refuses a request
    without the demo token, unless the topology says it forgets to."""
    answer = _fixed(route) if route.action is None else payments.handler(route.action, owner)
    if not (route.protected and route.enforces_auth):
        return answer

    async def guarded(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "unauthorized"}, status=401)
        return await answer(request)

    return guarded


def _fixed(route: Route) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.json_response({**route.body, **request.match_info}, status=route.status)

    return handle
