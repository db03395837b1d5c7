"""Scrape: read a neighbour's Prometheus endpoint and compute capacity (pool in use / max)."""

from __future__ import annotations

import asyncio
import math
import ssl
from pathlib import Path
from typing import Annotated, Any, Literal

import aiohttp
from multidict import CIMultiDict
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from pydantic import (
    BaseModel,
    ByteSize,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from yarl import URL

from agent.conditions.facts import Fact, FactType
from agent.probers.base import ProbeContext, ProbeFailed, ProberSpec
from agent.probers.capacity import CAPACITY_FACTS, record
from agent.probers.http_client import (
    HttpClients,
    HttpUrlText,
    PhaseClock,
    failure,
    url_endpoint,
    watching,
)
from agent.probers.scrape_expr import (
    EvaluationError,
    Expression,
    ExpressionError,
    Index,
    evaluate,
    metrics_of,
    parse,
)
from agent.probers.tlsconf import TlsClientConfig
from agent.redact import redact_url
from agent.results import Reason
from agent.vocabulary import CAPACITY_FAMILIES

ACCEPT = "text/plain;version=0.0.4;q=0.9, application/openmetrics-text;version=1.0.0;q=0.5"
ResourceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(:[A-Za-z0-9_./-]{1,64})?$")]
_CONFIG = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


def _expression(text: str) -> str:
    try:
        parse(text)
    except ExpressionError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    return text


ExpressionText = Annotated[str, Field(min_length=1)]


class ScrapeResource(BaseModel):
    """One resource computed from the scrape: ``used`` over ``limit``, in ``unit``."""

    model_config = _CONFIG

    used: ExpressionText
    limit: ExpressionText | None = None
    unit: Literal["count", "bytes", "seconds", "cores", "ratio"] = "count"
    _used: Expression = PrivateAttr()
    _limit: Expression | None = PrivateAttr(None)

    @field_validator("used", "limit")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        return value if value is None else _expression(value)

    def model_post_init(self, context: Any) -> None:
        self._used = parse(self.used)
        self._limit = None if self.limit is None else parse(self.limit)


class ScrapeProbe(BaseModel):
    """Where to scrape and what to compute. ``resources`` become capacity readings
    (``oversight_capacity_*``); ``value`` is one more number for conditions (``[VALUE]``)."""

    model_config = _CONFIG

    url: HttpUrlText
    headers: dict[str, str] = Field(default_factory=dict)
    bearer_token_file: str | None = Field(None, description="read at every probe")
    tls: TlsClientConfig = TlsClientConfig()
    max_body_bytes: Annotated[ByteSize, Field(gt=0)] = ByteSize(8 << 20)
    resources: dict[ResourceName, ScrapeResource] = Field(default_factory=dict)
    value: ExpressionText | None = None
    _value: Expression | None = PrivateAttr(None)
    _metrics: frozenset[str] = PrivateAttr(frozenset())

    @field_validator("value")
    @classmethod
    def _value_parses(cls, value: str | None) -> str | None:
        return value if value is None else _expression(value)

    @model_validator(mode="after")
    def _something(self) -> ScrapeProbe:
        if not self.resources and self.value is None:
            raise ValueError("a scrape probe needs resources, a value, or both")
        return self

    def model_post_init(self, context: Any) -> None:
        self._value = None if self.value is None else parse(self.value)
        expressions = [self._value] if self._value is not None else []
        for resource in self.resources.values():
            expressions += [e for e in (resource._used, resource._limit) if e is not None]
        self._metrics = frozenset().union(*(metrics_of(e) for e in expressions))


async def probe(config: ScrapeProbe, ctx: ProbeContext) -> None:
    text, openmetrics = await _fetch(config, ctx)
    with ctx.phase("parse"):
        index = await asyncio.to_thread(series_index, text, openmetrics, config._metrics)
    errors = []
    for name, resource in config.resources.items():
        try:
            used = evaluate(resource._used, index)
            limit = None if resource._limit is None else evaluate(resource._limit, index)
        except EvaluationError as exc:
            errors.append(f"{name}: {exc}")
            continue
        if limit is not None and not 0 < limit < math.inf:
            errors.append(
                f"{name}: the limit {resource._limit} is {limit:g}, not a positive number"
            )
            continue
        record(ctx, name, used, limit, resource.unit)
    if config._value is not None:
        try:
            ctx.facts["VALUE"] = evaluate(config._value, index)
        except EvaluationError as exc:
            errors.append(f"value: {exc}")
    if errors:
        raise ProbeFailed(Reason.BODY_MISMATCH, "; ".join(errors))


async def _fetch(config: ScrapeProbe, ctx: ProbeContext) -> tuple[str, bool]:
    """The exposition text and whether it is OpenMetrics; status, size and transport checked."""
    url = URL(config.url)
    headers: CIMultiDict[str] = CIMultiDict(config.headers)
    headers.setdefault("Accept", ACCEPT)
    if config.bearer_token_file is not None:
        headers["Authorization"] = f"Bearer {await _read_token(config.bearer_token_file)}"
    clock = PhaseClock(ctx)
    session = HttpClients.of(ctx.shared).session("auto")
    limit = int(config.max_body_bytes)
    try:
        with watching(clock):
            response = await session.get(
                url,
                headers=headers,
                allow_redirects=False,
                ssl=_ssl_context(config, ctx) if url.scheme == "https" else True,
                server_hostname=config.tls.server_name,
                trace_request_ctx=clock,
            )
            try:
                ctx.facts["STATUS"] = response.status
                if response.status != 200:
                    raise ProbeFailed(
                        Reason.STATUS_MISMATCH,
                        f"{redact_url(config.url)} answered {response.status}, not 200",
                    )
                body = await _read_body(response, limit, clock)
                content_type = response.headers.get("Content-Type", "")
                charset = response.charset or "utf-8"
            finally:
                response.close()
    except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
        raise failure(exc, url.host or "") from None
    openmetrics = content_type.startswith("application/openmetrics-text")
    return body.decode(charset, "replace"), openmetrics


async def _read_body(response: aiohttp.ClientResponse, limit: int, clock: PhaseClock) -> bytes:
    chunks, size = [], 0
    clock.start("transfer")
    try:
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise ProbeFailed(
                    Reason.TOO_LARGE, f"the metrics are larger than max_body_bytes ({limit} bytes)"
                )
            chunks.append(chunk)
    finally:
        clock.stop("transfer")
    return b"".join(chunks)


def series_index(text: str, openmetrics: bool, wanted: frozenset[str]) -> Index:
    """The samples of the wanted metrics, by name. Text that is not an exposition is a
    ``ProbeFailed(protocol_error)`` naming the parser's complaint (blocking: runs off the loop).
    """
    parser = openmetrics_families if openmetrics else text_string_to_metric_families
    index: dict[str, list[tuple[dict[str, str], float]]] = {}
    try:
        for family in parser(text):
            for sample in family.samples:
                if sample.name in wanted:
                    index.setdefault(sample.name, []).append((sample.labels, sample.value))
    except Exception as exc:  # the parser raises several kinds on garbage; all mean the same
        detail = str(exc).strip()[:120] or type(exc).__name__
        kind = "OpenMetrics" if openmetrics else "Prometheus text"
        raise ProbeFailed(Reason.PROTOCOL_ERROR, f"the answer is not {kind}: {detail}") from None
    return index


async def _read_token(path: str) -> str:
    try:
        text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise ProbeFailed(
            Reason.CONNECT_ERROR, f"cannot read bearer_token_file {path}: {exc}"
        ) from None
    return text.strip()


def _ssl_context(config: ScrapeProbe, ctx: ProbeContext) -> ssl.SSLContext:
    return ctx.shared.ssl_context(config.tls)


def _target(config: ScrapeProbe) -> str:
    return redact_url(config.url)


SPEC = ProberSpec(
    kind="scrape",
    model=ScrapeProbe,
    probe=probe,
    facts=(
        Fact("VALUE", FactType.NUMBER, Reason.THRESHOLD, "the probe's value expression"),
        Fact("STATUS", FactType.INT, Reason.STATUS_MISMATCH, "the endpoint's status code"),
        *CAPACITY_FACTS,
    ),
    families=CAPACITY_FAMILIES,
    target=_target,
    signals=("latency", "utilisation"),
    availability=False,  # a neighbour's numbers, not the integration answering
    endpoint=lambda config: url_endpoint(config.url),
)
