"""HTTP(S): one request, redirects followed by hand, phases timed like blackbox, body capped."""

from __future__ import annotations

import asyncio
import base64
import functools
import ssl
from pathlib import Path
from typing import Annotated, Literal

import aiohttp
from multidict import CIMultiDict
from pydantic import (
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from yarl import URL

from agent import vocabulary as v
from agent.fields import Token
from agent.probers.base import ProbeContext, ProbeFailed, ProberSpec, Request
from agent.probers.http_client import (
    HttpClients,
    HttpUrlText,
    PhaseClock,
    check_family,
    failure,
    redirect_target,
    url_endpoint,
    watching,
)
from agent.probers.http_facts import FACTS, Body
from agent.probers.http_ratelimit import RATELIMIT_FACTS, record_ratelimit
from agent.probers.tlsconf import TlsClientConfig, record_tls
from agent.redact import is_secret_header, is_secret_param, redact_url
from agent.results import Reason

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CONFIG = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)  # inputs hold secrets


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class BasicAuth(BaseModel):
    model_config = _CONFIG

    username: str
    password: str | None = None
    password_file: str | None = Field(None, description="read at every probe, so rotation works")

    @model_validator(mode="after")
    def _one_password(self) -> BasicAuth:
        if (self.password is None) == (self.password_file is None):
            raise ValueError("basic_auth needs exactly one of password and password_file")
        return self


class HttpProbe(BaseModel):
    """One HTTP request; the probe succeeds on 2xx unless conditions say otherwise."""

    model_config = _CONFIG

    url: HttpUrlText
    method: Annotated[Token, BeforeValidator(_upper)] = "GET"
    headers: dict[Token, str] = Field(default_factory=dict)
    body: str | None = None
    follow_redirects: bool = True
    max_redirects: int = Field(10, ge=0, le=100)
    max_body_bytes: Annotated[ByteSize, Field(gt=0)] = ByteSize(1 << 20)
    tls: TlsClientConfig = TlsClientConfig()
    ip_protocol: Literal["auto", "ip4", "ip6"] = "auto"
    basic_auth: BasicAuth | None = None
    bearer_token: str | None = None
    bearer_token_file: str | None = Field(None, description="read at every probe")
    secret_headers: tuple[str, ...] = Field((), description="more header names to redact")
    trace_context: bool = Field(True, description="send W3C traceparent with the request")

    @field_validator("headers")
    @classmethod
    def _no_line_breaks(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if "\r" in text or "\n" in text:
                raise ValueError(f"header {name} has a line break in its value")
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> HttpProbe:
        sources = [
            name
            for name, present in (
                ("user:password in url", URL(self.url).user is not None),
                ("basic_auth", self.basic_auth is not None),
                ("bearer_token", self.bearer_token is not None),
                ("bearer_token_file", self.bearer_token_file is not None),
                ("an Authorization header", "authorization" in map(str.lower, self.headers)),
            )
            if present
        ]
        if len(sources) > 1:
            raise ValueError(f"give one credential, not {' and '.join(sources)}")
        return self


@functools.lru_cache(maxsize=16384)
def _parse_url(url: str) -> URL:
    """URLs are immutable: parse each configured one once, not on every run."""
    return URL(url)


async def probe(config: HttpProbe, ctx: ProbeContext) -> None:
    url = _parse_url(config.url)
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
        mapped = failure(exc, url.host or "")
        if clock.tls_failed and mapped.reason is Reason.CONNECT_ERROR:
            mapped = ProbeFailed(Reason.TLS_ERROR, f"TLS handshake failed: {mapped.message}")
        raise mapped from None
    ctx.facts["BODY"] = Body.decode(raw, response.charset)


async def _request_headers(config: HttpProbe, url: URL, ctx: ProbeContext) -> CIMultiDict[str]:
    """The headers to send; every secret they or the URL carry goes to ``ctx.secrets``, so
    the runner masks it wherever the target echoes it (a body, an error, a header)."""
    headers: CIMultiDict[str] = CIMultiDict(config.headers)
    secrets = [v for k, v in headers.items() if is_secret_header(k, config.secret_headers)]
    secrets += [v for k, v in url.query.items() if is_secret_param(k)]
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
    ctx.secrets.update(secrets)
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
    config: HttpProbe,
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
            extra = config.secret_headers
            kept = [(k, v) for k, v in headers.items() if not is_secret_header(k, extra)]
            headers = CIMultiDict(kept)
        seen.add((method, target))
        ctx.values[v.HTTP_REDIRECTS] += 1
        url = target


def _ssl_context(config: HttpProbe, ctx: ProbeContext) -> ssl.SSLContext:
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
    config: HttpProbe, ctx: ProbeContext, clock: PhaseClock, response: aiohttp.ClientResponse
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


def _target(config: HttpProbe) -> str:
    return redact_url(config.url)


def without_credentials(config: HttpProbe) -> HttpProbe:
    """The same request with every credential removed (userinfo, secret query parameters,
    secret headers, basic auth, tokens) and redirects not followed: what an anonymous client
    would send (compliance's auth check)."""
    extra = config.secret_headers
    headers = {k: h for k, h in config.headers.items() if not is_secret_header(k, extra)}
    url = URL(config.url).with_user(None)
    if any(is_secret_param(name) for name in url.query):
        url = url.with_query([(k, q) for k, q in url.query.items() if not is_secret_param(k)])
    return config.model_copy(
        update={
            "url": str(url),
            "headers": headers,
            "basic_auth": None,
            "bearer_token": None,
            "bearer_token_file": None,
            "follow_redirects": False,
        }
    )


SPEC = ProberSpec(
    kind="http",
    model=HttpProbe,
    probe=probe,
    facts=(*FACTS, *RATELIMIT_FACTS),
    families=(
        v.HTTP_STATUS_CODE,
        v.HTTP_VERSION,
        v.HTTP_CONTENT_LENGTH,
        v.HTTP_UNCOMPRESSED_BODY_LENGTH,
        v.HTTP_REDIRECTS,
        *v.TLS_FAMILIES,
        *v.CAPACITY_FAMILIES,  # a partner's rate-limit quota
    ),
    default_conditions=("[STATUS] in 200..299",),
    target=_target,
    signals=("latency", "cert_expiry", "utilisation"),
    phase_family=v.PROBE_HTTP_PHASES,
    tls=lambda config: config.url.lower().startswith("https://"),
    endpoint=lambda config: url_endpoint(config.url),
    attributes=lambda config: {"http.request.method": config.method},
    request=lambda config: Request(config.method, config.url),
    anonymous=without_credentials,
)
