"""``POST /-/reload`` (or ``PUT``, as Prometheus): on only with ``--web.enable-lifecycle``."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

DISABLED = (
    "403 Forbidden: the lifecycle endpoint is off; start the agent with "
    "--web.enable-lifecycle to reload over HTTP (SIGHUP reloads either way)\n"
)
# what an HTML form can send without the page asking the server first (CORS "simple")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
_DIRECTORIES = re.compile(r"(?<![\w:/.~-])/(?:[^\s/:'\"]+/)+(?=[^\s/:'\"])")


class Outcome(Protocol):
    @property
    def ok(self) -> bool: ...

    @property
    def errors(self) -> tuple[object, ...]: ...


def browser_reason(request: web.Request) -> str | None:
    """Why a request looks made by a web page, or None for a tool's.

    A reload changes what the agent runs, so a page someone happens to have open must not
    be able to trigger it (cross-site request forgery, or DNS rebinding, where the page's
    origin and the Host header both name the attacker's domain, so comparing them proves
    nothing). The tools that reload — ``curl -X POST``, config reloaders, scripts — send no
    ``Origin`` and no ``Sec-Fetch-Site``, and no form body; a browser adds ``Origin`` to every
    POST and PUT, modern ones ``Sec-Fetch-Site`` to every request, and a plain HTML form can
    only send the three "simple" content types. Any of these is refused. Demanding a custom
    header instead would also stop browsers, but would break ``curl -X POST .../-/reload``,
    the command every Prometheus user already types.
    """
    if "Origin" in request.headers:
        return "it carries an Origin header, as a web page's request does"
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "none":
        return f"it was sent by a web page (Sec-Fetch-Site: {site})"
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type in FORM_TYPES:
        return f"it has the content type of an HTML form ({content_type})"
    return None


def without_directories(text: str) -> str:
    """``/etc/oversight/oversight.yaml:3: ...`` -> ``oversight.yaml:3: ...``: an answer over
    HTTP names files, not where they sit on the agent's disk."""
    return _DIRECTORIES.sub("", text)


def reload_routes(enabled: bool, reload: Callable[[], Awaitable[Outcome]]) -> list[web.RouteDef]:
    async def handle(request: web.Request) -> web.Response:
        if not enabled:
            return web.Response(status=403, text=DISABLED)
        reason = browser_reason(request)
        if reason is not None:
            return web.Response(
                status=403,
                text=f"403 Forbidden: reload refused because {reason}; reload with a tool, "
                "e.g. curl -X POST http://HOST:PORT/-/reload\n",
            )
        outcome = await reload()
        if outcome.ok:
            return web.Response(text="reloaded\n")
        problems = "\n".join(without_directories(str(error)) for error in outcome.errors)
        return web.Response(text=f"reload failed, running config kept:\n{problems}\n", status=400)

    return [web.post("/-/reload", handle), web.put("/-/reload", handle)]
