"""HTTP(S): one request, redirects followed by hand, phases timed like blackbox, body capped."""

from __future__ import annotations

import functools

from yarl import URL

from agent import vocabulary as v
from agent.probers.base import ProbeContext, ProberSpec, Request
from agent.probers.http_client import url_endpoint
from agent.probers.http_exchange import exchange
from agent.probers.http_facts import FACTS
from agent.probers.http_ratelimit import RATELIMIT_FACTS
from agent.probers.http_request import BasicAuth, HttpRequest
from agent.redact import is_secret_param, redact_url

__all__ = ["SPEC", "BasicAuth", "HttpProbe", "probe", "without_credentials"]


class HttpProbe(HttpRequest):
    """One HTTP request; the probe succeeds on 2xx unless conditions say otherwise."""


@functools.lru_cache(maxsize=16384)
def _parse_url(url: str) -> URL:
    """URLs are immutable: parse each configured one once, not on every run."""
    return URL(url)


async def probe(config: HttpProbe, ctx: ProbeContext) -> None:
    await exchange(config, ctx, _parse_url(config.url))


def _target(config: HttpProbe) -> str:
    return redact_url(config.url)


def without_credentials(config: HttpProbe) -> HttpProbe:
    """The same request with every credential removed (userinfo, secret query parameters,
    secret headers, basic auth, tokens) and redirects not followed: what an anonymous client
    would send (compliance's auth check)."""
    headers = {k: h for k, h in config.headers.items() if not config.secret_header(k)}
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
    request=lambda config: Request(config.method, config.url, headers=config.shown_headers()),
    anonymous=without_credentials,
)
