"""Careless and hostile targets for the leak and flood tests.

``leaky_app`` is a partner that repeats what it is sent: it echoes every request header and
the query string (credentials included) in its JSON, serves a card number where a condition
reads it, and names the card and the caller's key in its error body. ``junk_reply`` and
``big_header_reply`` are raw answers for ``answer_with``: binary that is not HTTP, and a
response whose one header holds a megabyte. ``spew`` answers any client, whatever protocol
it speaks, with junk the moment it connects.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from aiohttp import web

MiB = 1 << 20


def spaced(card: str) -> str:
    """``4539148803436467`` -> ``4539 1488 0343 6467``, as people and receipts write it."""
    return " ".join(card[i : i + 4] for i in range(0, len(card), 4))


def leaky_app(card: str) -> web.Application:
    """``/echo`` (every header and the query, back as JSON), ``/card`` (a card number in a
    JSON field), ``/declined`` (402, the card and the caller's X-Api-Key in the error) and
    ``/flap`` (200 and 503 in turn)."""

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "method": request.method,
                "url": request.path_qs,
                "query": dict(request.query),
                "headers": dict(request.headers),
            }
        )

    async def card_field(_: web.Request) -> web.Response:
        return web.json_response({"status": "UP", "card": card, "holder": "J. Doe"})

    async def declined(request: web.Request) -> web.Response:
        key = request.headers.get("X-Api-Key", "")
        return web.json_response(
            {"error": f"card {spaced(card)} declined for key {key}", "code": "do_not_honor"},
            status=402,
        )

    calls = 0

    async def flap(_: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=200 if calls % 2 else 503, text=f"call {calls}")

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/flap", flap)
    app.router.add_get("/card", card_field)
    app.router.add_get("/declined", declined)
    return app


def junk_reply(card: str, size: int = 4096) -> bytes:
    """``size`` bytes of binary that is not HTTP, a card number near its start between NULs."""
    head = b"\x00\x02" + card.encode() + b"\x00"
    return head + os.urandom(size - len(head))


def big_header_reply(card: str, size: int = MiB) -> bytes:
    """A 200 whose X-Trace header value is ``size`` bytes, starting with a card number."""
    value = card.encode() + b" " + b"a" * (size - len(card) - 1)
    return b"HTTP/1.1 200 OK\r\nX-Trace: " + value + b"\r\nContent-Length: 2\r\n\r\nok"


def spew(data: bytes) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A raw-server handler that writes ``data`` as soon as a client connects, then hangs up."""

    async def handler(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()

    return handler
