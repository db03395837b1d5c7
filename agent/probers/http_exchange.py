"""One HTTP exchange, as the http kind and each flow step make it: request, redirects, body.

Everything it measures goes into the run's context: phases, values, the facts conditions
read (``STATUS``, ``HEADER``, ``BODY``, ``HTTP_VERSION``, TLS) and every secret the request
carries (credentials, secret query values), which the runner scrubs from the Result.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from agent import vocabulary as v
from agent.probers.base import ProbeContext, ProbeFailed
from agent.probers.http_client import (
    HttpClients,
    PhaseClock,
    check_family,
    failure,
    redirect_target,
    watching,
)
from agent.probers.http_facts import Body
from agent.probers.http_ratelimit import record_ratelimit
from agent.probers.http_request import HttpRequest
from agent.probers.tlsconf import record_tls
from agent.redact import is_secret_param, redact_url
from agent.results import Reason

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


async def exchange(config: HttpRequest, ctx: ProbeContext, url: URL) -> None:
    """Send ``config``'s request to ``url`` (its parsed URL) and record the answer in ``ctx``.

    Raises ``ProbeFailed`` for a target's fault; a request that completed, whatever its
    status, returns with ``ctx.facts`` holding the final response.
    """
    headers = await _request_headers(config, url, ctx)
    clock = PhaseClock(ctx)
    session = HttpClients.of(ctx.shared).session(config.ip_protocol)
    try:
        with watching(clock):
            response = await _fetch(config, ctx, session, clock, url.with_user(None), headers)
            try:
                _record_response(ctx, response, clock.ssl_object)
                record_ratelimit(ctx, response.status, response.headers)
                raw = await _read_body(config, ctx, clock, response)
            finally:
                response.close()
    except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
        raise _failure(exc, url.host or "", clock.tls_failed) from None
    except ValueError as exc:  # e.g. a header value aiohttp refuses to send
        raise ProbeFailed(Reason.PROTOCOL_ERROR, f"cannot send the request: {exc}") from None
    ctx.facts["BODY"] = Body.decode(raw, response.charset)


def _failure(exc: BaseException, host: str, tls_failed: bool) -> ProbeFailed:
    """The failure to raise, made here rather than bound to a name in the raising frame: an
    exception raised from a local would hold that frame through its traceback, and the frame
    the exception, a cycle that keeps the run's connection and buffers until the garbage
    collector comes by (or for good, when ``gc.freeze()`` catches the run in flight)."""
    mapped = failure(exc, host)
    if tls_failed and mapped.reason is Reason.CONNECT_ERROR:
        return ProbeFailed(Reason.TLS_ERROR, f"TLS handshake failed: {mapped.message}")
    return mapped


async def _request_headers(config: HttpRequest, url: URL, ctx: ProbeContext) -> CIMultiDict[str]:
    """The headers to send; every secret they or the URL carry joins ``ctx.secrets``."""
    headers: CIMultiDict[str] = CIMultiDict(config.headers)
    secrets = [h for k, h in headers.items() if config.secret_header(k)]
    secrets += [q for k, q in url.query.items() if is_secret_param(k)]
    user, password = url.user, url.password
    if config.basic_auth is not None:
        user = config.basic_auth.username
        password = config.basic_auth.password
        if config.basic_auth.password_file is not None:
            password = await _read_secret(config.basic_auth.password_file, "password_file")
    if user is not None:
        encoded = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
        secrets += [password or "", url.raw_user or "", encoded]
        headers["Authorization"] = f"Basic {encoded}"
    token = config.bearer_token
    if config.bearer_token_file is not None:
        token = await _read_secret(config.bearer_token_file, "bearer_token_file")
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if "Authorization" in headers:
        secrets += [token or "", headers["Authorization"]]
    ctx.secrets.update(s for s in secrets if s)
    if config.trace_context:
        headers.update(ctx.trace_headers)
    return headers


async def _read_secret(path: str, key: str) -> str:
    try:
        text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise ProbeFailed(Reason.INTERNAL_ERROR, f"cannot read {key} {path}: {exc}") from None
    return text.strip()


async def _fetch(
    config: HttpRequest,
    ctx: ProbeContext,
    session: aiohttp.ClientSession,
    clock: PhaseClock,
    url: URL,
    headers: CIMultiDict[str],
) -> aiohttp.ClientResponse:
    """The final response, redirects followed by hand (counted, loop-checked, capped)."""
    method, data = config.method, config.body.encode() if config.body is not None else None
    first_host = url.host
    seen = {(method, url)}
    ctx.values[v.HTTP_REDIRECTS] = 0
    while True:
        check_family(url.host or "", config.ip_protocol)
        ctx.phases.setdefault("resolve", 0.0)  # an IP literal is resolved in no time
        clock.ssl_object = None
        response = await session.request(
            method,
            url,
            headers=headers,
            data=data,
            allow_redirects=False,
            ssl=_ssl_context(config, ctx) if url.scheme == "https" else True,
            server_hostname=config.tls.server_name if url.host == first_host else None,
            trace_request_ctx=clock,
        )
        location = response.headers.get("Location")
        if not (config.follow_redirects and response.status in _REDIRECTS and location):
            return response
        response.close()
        target = redirect_target(url, location)
        if response.status in (301, 302, 303) and method not in ("GET", "HEAD"):
            method, data = "GET", None  # as browsers and Go (hence blackbox) do
        if (method, target) in seen:
            raise ProbeFailed(
                Reason.REDIRECT_LIMIT, f"redirect loop back to {redact_url(str(target))}"
            )
        if ctx.values[v.HTTP_REDIRECTS] >= config.max_redirects:
            raise ProbeFailed(
                Reason.REDIRECT_LIMIT,
                f"more than {config.max_redirects} redirects (next: {redact_url(str(target))})",
            )
        if target.origin() != url.origin():  # credentials stay with the origin they are for
            headers = CIMultiDict((k, h) for k, h in headers.items() if not config.secret_header(k))
        seen.add((method, target))
        ctx.values[v.HTTP_REDIRECTS] += 1
        url = target


def _ssl_context(config: HttpRequest, ctx: ProbeContext) -> ssl.SSLContext:
    try:
        return ctx.shared.ssl_context(config.tls)
    except (OSError, ssl.SSLError) as exc:
        raise ProbeFailed(Reason.TLS_ERROR, f"cannot load the TLS settings: {exc}") from None


def _record_response(
    ctx: ProbeContext, response: aiohttp.ClientResponse, ssl_object: object
) -> None:
    major, minor = response.version or (1, 1)
    version = f"{major}.{minor}"
    ctx.values[v.HTTP_STATUS_CODE] = response.status
    ctx.values[v.HTTP_VERSION] = float(version)
    ctx.facts["STATUS"] = response.status
    ctx.facts["HTTP_VERSION"] = version
    ctx.facts["HEADER"] = response.headers
    if ssl_object is not None:
        record_tls(ctx, ssl_object)


async def _read_body(
    config: HttpRequest, ctx: ProbeContext, clock: PhaseClock, response: aiohttp.ClientResponse
) -> bytes:
    """The (decompressed) body, read in chunks; more than ``max_body_bytes`` is TOO_LARGE.

    ``http_content_length`` is the Content-Length header, -1 when absent (as blackbox
    reports Go's unknown length); ``http_uncompressed_body_length`` counts what was read.
    """
    limit = int(config.max_body_bytes)
    declared = response.content_length
    ctx.values[v.HTTP_CONTENT_LENGTH] = -1 if declared is None else declared
    too_large = f"the body is larger than max_body_bytes ({limit} bytes)"
    if declared is not None and declared > limit and "Content-Encoding" not in response.headers:
        raise ProbeFailed(Reason.TOO_LARGE, f"{too_large}: Content-Length is {declared}")
    chunks: list[bytes] = []
    size = 0
    clock.start("transfer")
    try:
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise ProbeFailed(Reason.TOO_LARGE, too_large)
            chunks.append(chunk)
    finally:
        clock.stop("transfer")
        ctx.values[v.HTTP_UNCOMPRESSED_BODY_LENGTH] = size
    return b"".join(chunks)
