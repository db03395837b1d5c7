"""The scrape kind against a loopback exporter whose pool gauges the test moves."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError

from agent.probers.scrape import ScrapeProbe
from agent.results import Capacity, Reason
from tests.agent.probers.conftest import RunProbe
from tests.peers.http_servers import closed_port, never_answer, raw_server, serve

POOL = {
    "used": 'db_pool_connections{pool="main",state="in_use"}',
    "limit": 'db_pool_max_connections{pool="main"}',
}


@dataclass
class Exporter:
    """A neighbour's /metrics: a DB pool and a queue; ``body`` replaces the text when set."""

    in_use: float = 5
    idle: float = 15
    max: float = 20
    depth: float = 40
    body: str | None = None
    content_type: str = "text/plain; version=0.0.4"
    status: int = 200
    seen_headers: list[dict[str, str]] = field(default_factory=list)

    def text(self) -> str:
        return (
            "# HELP db_pool_connections Connections of the pool by state.\n"
            "# TYPE db_pool_connections gauge\n"
            f'db_pool_connections{{pool="main",state="in_use"}} {self.in_use}\n'
            f'db_pool_connections{{pool="main",state="idle"}} {self.idle}\n'
            "# TYPE db_pool_max_connections gauge\n"
            f'db_pool_max_connections{{pool="main"}} {self.max}\n'
            "# TYPE payments_queue_depth gauge\n"
            f'payments_queue_depth{{queue="payments",shard="a"}} {self.depth / 2}\n'
            f'payments_queue_depth{{queue="payments",shard="b"}} {self.depth / 2}\n'
            "# TYPE payments_queue_limit gauge\n"
            "payments_queue_limit 100\n"
            "# TYPE http_requests counter\n"
            'http_requests_total{code="200"} 1027\n'
        )

    async def handle(self, request: web.Request) -> web.Response:
        self.seen_headers.append(dict(request.headers))
        body = self.text() if self.body is None else self.body
        return web.Response(
            status=self.status, body=body.encode(), headers={"Content-Type": self.content_type}
        )


@pytest.fixture
async def exporter() -> AsyncIterator[tuple[Exporter, str]]:
    state = Exporter()
    app = web.Application()
    app.router.add_get("/metrics", state.handle)
    async with serve(app) as running:
        yield state, running.url("/metrics")


def _config(url: str, **extra: Any) -> dict[str, Any]:
    return {"url": url, "resources": {"pool:db": POOL}, **extra}


async def test_utilisation_follows_the_gauges(
    run_probe: RunProbe, exporter: tuple[Exporter, str]
) -> None:
    state, url = exporter
    readings = []
    for in_use in (5, 12, 19):
        state.in_use = in_use
        result = await run_probe("scrape", _config(url))
        assert result.success, result.message
        readings.append(result.capacity)
    assert readings == [
        (Capacity("pool:db", 5, 20, "count"),),
        (Capacity("pool:db", 12, 20, "count"),),
        (Capacity("pool:db", 19, 20, "count"),),
    ]
    assert [r[0].utilisation for r in readings] == [0.25, 0.6, 0.95]
    assert state.seen_headers[-1]["Accept"].startswith("text/plain;version=0.0.4")
    assert {"connect", "processing", "transfer", "parse"} <= dict(result.phases).keys()


async def test_several_resources_a_value_and_conditions(
    run_probe: RunProbe, exporter: tuple[Exporter, str]
) -> None:
    state, url = exporter
    config = _config(
        url,
        resources={
            "pool:db": POOL,
            "queue:payments": {
                "used": 'sum(payments_queue_depth{queue="payments"})',
                "limit": "payments_queue_limit",
            },
        },
        value='sum(db_pool_connections{pool="main"}) - db_pool_max_connections',
    )
    conditions = ["[VALUE] == 0", "[UTILISATION.queue:payments] < 0.5", "[USED.pool:db] <= 5"]
    result = await run_probe("scrape", config, conditions=conditions)
    assert result.success, result.message
    assert result.capacity == (
        Capacity("pool:db", 5, 20, "count"),
        Capacity("queue:payments", 40, 100, "count"),
    )
    state.depth, state.in_use = 80, 19
    result = await run_probe("scrape", config, conditions=conditions)
    assert result.reason is Reason.THRESHOLD
    assert result.message == (
        "[VALUE] (14) == 0; [UTILISATION.queue:payments] (0.8) < 0.5; [USED.pool:db] (19) <= 5"
    )


async def test_openmetrics_and_a_used_only_resource(
    run_probe: RunProbe, exporter: tuple[Exporter, str]
) -> None:
    state, url = exporter
    state.content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    state.body = (
        '# TYPE jobs gauge\njobs{kind="batch"} 3\n# TYPE jobs_run counter\n'
        "jobs_run_total 10\n# EOF\n"
    )
    config = {
        "url": url,
        "resources": {"jobs:batch": {"used": 'jobs{kind="batch"}'}},
        "value": "jobs_run_total",
    }
    result = await run_probe("scrape", config, conditions=["[VALUE] == 10"])
    assert result.success, result.message
    assert result.capacity == (Capacity("jobs:batch", 3, None, "count"),)


@pytest.mark.parametrize(
    ("body", "reason", "message"),
    [
        (
            "<html><body>Login</body></html>",
            Reason.PROTOCOL_ERROR,
            "the answer is not Prometheus text: ",
        ),
        ('{"status": "UP"}', Reason.PROTOCOL_ERROR, "the answer is not Prometheus text: "),
        ('db_pool_connections{pool="main"} twelve\n', Reason.PROTOCOL_ERROR, "the answer is not"),
        (
            "",
            Reason.BODY_MISMATCH,
            'pool:db: no series db_pool_connections{pool="main", state="in_use"}',
        ),
        (
            'db_pool_connections{pool="main",state="in_use"} 3\n',
            Reason.BODY_MISMATCH,
            'pool:db: no series db_pool_max_connections{pool="main"}',
        ),
        (
            'db_pool_connections{pool="main",state="in_use"} 3\n'
            'db_pool_max_connections{pool="main"} 0\n',
            Reason.BODY_MISMATCH,
            'pool:db: the limit db_pool_max_connections{pool="main"} is 0, not a positive number',
        ),
        (
            'db_pool_connections{pool="main",state="in_use"} NaN\n'
            'db_pool_max_connections{pool="main"} 5\n',
            Reason.BODY_MISMATCH,
            'pool:db: db_pool_connections{pool="main", state="in_use"} is not a number (NaN)',
        ),
    ],
    ids=["html", "json", "bad-value", "empty", "missing-series", "zero-limit", "nan"],
)
async def test_garbage_and_missing_series_fail_with_a_reason(
    run_probe: RunProbe,
    exporter: tuple[Exporter, str],
    body: str,
    reason: Reason,
    message: str,
) -> None:
    state, url = exporter
    state.body = body
    result = await run_probe("scrape", _config(url))
    assert result.reason is reason
    assert result.message.startswith(message), result.message
    assert result.capacity == ()


async def test_missing_series_of_one_resource_keeps_the_others(
    run_probe: RunProbe, exporter: tuple[Exporter, str]
) -> None:
    _, url = exporter
    config = _config(url, resources={"pool:db": POOL, "pool:gone": {"used": "gone_in_use"}})
    result = await run_probe("scrape", config)
    assert (result.reason, result.message) == (
        Reason.BODY_MISMATCH,
        "pool:gone: no series gone_in_use",
    )
    assert result.capacity == (Capacity("pool:db", 5, 20, "count"),)


async def test_status_size_and_token(
    run_probe: RunProbe, exporter: tuple[Exporter, str], tmp_path: Path
) -> None:
    state, url = exporter
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    assert (await run_probe("scrape", _config(url, bearer_token_file=str(token)))).success
    assert state.seen_headers[-1]["Authorization"] == "Bearer s3cret-token"
    result = await run_probe("scrape", _config(url, max_body_bytes=64))
    assert (result.reason, result.message) == (
        Reason.TOO_LARGE,
        "the metrics are larger than max_body_bytes (64 bytes)",
    )
    state.status = 503
    result = await run_probe("scrape", _config(url))
    assert (result.reason, result.message) == (
        Reason.STATUS_MISMATCH,
        f"{url} answered 503, not 200",
    )
    missing = await run_probe("scrape", _config(url, bearer_token_file=str(tmp_path / "nope")))
    assert missing.reason is Reason.CONNECT_ERROR
    assert "cannot read bearer_token_file" in missing.message


async def test_refused_and_silent_endpoints(run_probe: RunProbe) -> None:
    result = await run_probe("scrape", _config(f"http://127.0.0.1:{closed_port()}/metrics"))
    assert (result.reason, result.message) == (Reason.CONNECT_REFUSED, "connection refused")
    async with raw_server(never_answer) as port:
        started = time.monotonic()
        result = await run_probe("scrape", _config(f"http://127.0.0.1:{port}/m"), timeout=0.5)
    assert result.reason is Reason.TIMEOUT
    assert time.monotonic() - started < 0.5 + 1


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"url": "http://x/metrics"}, "a scrape probe needs resources, a value, or both"),
        ({"url": "ftp://x/metrics", "value": "1"}, "is not an http:// or https:// URL"),
        ({"url": "http://x/m", "value": "a +"}, "'a +': expected a number, a series or ("),
        (
            {"url": "http://x/m", "resources": {"pool:db": {"used": "a", "limit": "b{c}"}}},
            "'b{c}': expected =, !=, =~ or !~ after c",
        ),
        ({"url": "http://x/m", "resources": {"Pool DB": {"used": "a"}}}, "String should match"),
        (
            {"url": "http://x/m", "resources": {"pool:db": {"used": "a", "unit": "kg"}}},
            "Input should be",
        ),
    ],
)
def test_config_errors(config: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ScrapeProbe.model_validate(config)
    assert error in str(caught.value)


def test_expressions_compile_once_at_load() -> None:
    config = ScrapeProbe.model_validate(
        {"url": "http://x/m", "resources": {"pool:db": POOL}, "value": "sum(a) + b"}
    )
    assert config._metrics == {"db_pool_connections", "db_pool_max_connections", "a", "b"}
    assert config == ScrapeProbe.model_validate(config.model_dump())
