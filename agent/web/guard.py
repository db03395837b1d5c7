"""Basic auth and response headers from the web config, in front of every endpoint."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import bcrypt
from aiohttp import web

from agent.web.config import WebConfig

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Verdicts:
    """A bounded memory of checked (user, hash, password) triples, as exporter-toolkit keeps.

    bcrypt costs tens of milliseconds by design; a scrape every 15 s must not pay it each time.
    Keys are SHA-256 digests, so no password is held. Successes and failures are kept apart
    so that a stream of wrong passwords cannot push the right one out.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._known: dict[bool, OrderedDict[bytes, None]] = {
            True: OrderedDict(),
            False: OrderedDict(),
        }

    def get(self, key: bytes) -> bool | None:
        for verdict, seen in self._known.items():
            if key in seen:
                seen.move_to_end(key)
                return verdict
        return None

    def put(self, key: bytes, verdict: bool) -> None:
        seen = self._known[verdict]
        seen[key] = None
        while len(seen) > self.size:
            seen.popitem(last=False)


class Guard:
    """Checks each request against the current web config; ``config`` is swapped on reload."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.verdicts = Verdicts()
        self.bcrypt_runs = 0  # bcrypt comparisons made (the cache's misses)
        self._one_at_a_time = asyncio.Lock()  # bcrypt is CPU-bound: never more than one core
        self._decoy: bytes | None = None

    def middleware(self) -> Any:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            credentials = request.headers.get("Authorization")
            if self.config.users and not await self.authorized(credentials):
                raise web.HTTPUnauthorized(
                    text="401 Unauthorized\n", headers={"WWW-Authenticate": "Basic"}
                )
            return await handler(request)

        return guard

    async def add_headers(self, _: web.Request, response: web.StreamResponse) -> None:
        """``on_response_prepare``: the configured headers on every answer, errors included."""
        for name, value in self.config.headers:
            response.headers[name] = value

    async def authorized(self, header: str | None) -> bool:
        """Whether an ``Authorization: Basic`` header names a user with the right password."""
        credentials = _basic(header)
        if credentials is None:
            return False
        user, password = credentials
        hashed = self.config.users.get(user.decode("utf-8", "replace"))
        known = hashed is not None
        if hashed is None:  # an unknown user costs as much as a known one: no user probing
            hashed = await self._decoy_hash()
        key = hashlib.sha256(b"\0".join((user, hashed, password))).digest()
        verdict = self.verdicts.get(key)
        if verdict is None:
            async with self._one_at_a_time:
                self.bcrypt_runs += 1
                verdict = await asyncio.to_thread(_checkpw, password, hashed)
            self.verdicts.put(key, verdict)
        return verdict and known

    async def _decoy_hash(self) -> bytes:
        if self._decoy is None:
            self._decoy = await asyncio.to_thread(bcrypt.hashpw, b"-", bcrypt.gensalt(10))
        return self._decoy


def _basic(header: str | None) -> tuple[bytes, bytes] | None:
    """(user, password) from ``Basic base64(user:password)``, as Go's ``Request.BasicAuth``."""
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # a password over bcrypt's 72 bytes, or a hash it cannot read
        return False
