"""Rate-limit headers read into quota headroom: the parser's table, and http probes reading them."""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from agent.probers.http_ratelimit import Quota, parse_quota
from agent.results import Capacity, Reason
from tests.agent.probers.conftest import RunProbe
from tests.peers.http_servers import serve

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "status", "quota"),
    [
        ({}, 200, None),
        ({"Content-Type": "text/plain"}, 200, None),
        (
            {
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Remaining": "4987",
                "X-RateLimit-Reset": str(int(NOW) + 1800),
            },
            200,
            Quota(5000, 4987, 1800),
        ),  # GitHub: reset as a unix time
        (
            {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "7", "x-ratelimit-reset": "42"},
            200,
            Quota(100, 7, 42),
        ),  # reset as a delay; names in any case
        (
            {"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": str(int(NOW * 1000) + 5000)},
            200,
            Quota(None, 3, 5),
        ),  # reset in milliseconds since the epoch; no limit sent
        (
            {
                "RateLimit-Limit": "100, 100;w=60, 1000;w=3600",
                "RateLimit-Remaining": "40",
                "RateLimit-Reset": "30",
            },
            200,
            Quota(100, 40, 30),
        ),  # IETF draft, separate fields, a list of policies
        ({"RateLimit": "limit=100, remaining=25, reset=10"}, 200, Quota(100, 25, 10)),
        (
            {"RateLimit": '"default";r=50;t=30', "RateLimit-Policy": '"default";q=100;w=60'},
            200,
            Quota(100, 50, 30),
        ),  # IETF draft, structured fields
        ({"Retry-After": "120"}, 429, Quota(None, 0, 120)),
        (
            {"Retry-After": email.utils.formatdate(NOW + 90, usegmt=True)},
            503,
            Quota(None, None, 90),
        ),
        ({}, 429, Quota(None, 0, None)),
        (
            {"X-RateLimit-Limit": "many", "X-RateLimit-Remaining": "-4"},
            200,
            None,
        ),  # nonsense is ignored, never a failure
        (
            {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "Retry-After": "7"},
            429,
            Quota(10, 0, 7),
        ),
        ({"Retry-After": "Someday"}, 200, None),
    ],
)
def test_parse(headers: dict[str, str], status: int, quota: Quota | None) -> None:
    assert parse_quota(headers, status, NOW) == quota


def test_remaining_ratio() -> None:
    assert Quota(200, 50, None).remaining_ratio == 0.25
    assert Quota(None, 50, None).remaining_ratio is None
    assert Quota(10, 12, None).remaining_ratio == 1.0


class Partner:
    """A partner API that counts our calls against a quota of ``limit`` per window."""

    def __init__(self, limit: int = 10) -> None:
        self.limit = limit
        self.calls = 0

    async def handle(self, _: web.Request) -> web.Response:
        self.calls += 1
        remaining = max(self.limit - self.calls, 0)
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": "60",
        }
        if remaining == 0:
            return web.json_response(
                {"error": "rate limited"}, status=429, headers={**headers, "Retry-After": "60"}
            )
        return web.json_response({"status": "UP"}, headers=headers)


@pytest.fixture
async def partner() -> AsyncIterator[tuple[Partner, str]]:
    state = Partner()
    app = web.Application()
    app.router.add_get("/v1/health", state.handle)
    async with serve(app) as running:
        yield state, running.url("/v1/health")


async def test_http_probe_reads_the_headroom(
    run_probe: RunProbe, partner: tuple[Partner, str]
) -> None:
    _, url = partner
    readings = []
    for _ in range(3):
        result = await run_probe("http", {"url": url})
        assert result.success, result.message
        readings.append(result.capacity)
    assert readings == [
        (Capacity("quota:requests", 1, 10, "count"),),
        (Capacity("quota:requests", 2, 10, "count"),),
        (Capacity("quota:requests", 3, 10, "count"),),
    ]
    result = await run_probe(
        "http",
        {"url": url},
        conditions=[
            "[QUOTA_REMAINING] >= 6",
            "[QUOTA_LIMIT] == 10",
            "[QUOTA_RATIO] == 0.6",
            "[QUOTA_RESET] == 1m",
        ],
    )
    assert result.success, result.message


async def test_a_spent_quota(run_probe: RunProbe, partner: tuple[Partner, str]) -> None:
    state, url = partner
    state.calls = 9
    result = await run_probe("http", {"url": url}, conditions=["[QUOTA_RATIO] > 0.1"])
    assert result.reason is Reason.THRESHOLD
    assert result.message == "[QUOTA_RATIO] (0) > 0.1"
    assert result.capacity == (Capacity("quota:requests", 10, 10, "count"),)
    refused = await run_probe("http", {"url": url})
    assert refused.reason is Reason.STATUS_MISMATCH  # a 429 fails the default condition
    assert refused.capacity[0].utilisation == 1.0


async def test_no_headers_no_quota(run_probe: RunProbe) -> None:
    async def plain(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", plain)
    async with serve(app) as running:
        result = await run_probe(
            "http", {"url": running.url("/")}, conditions=["[QUOTA_REMAINING] not exists"]
        )
    assert result.success, result.message
    assert result.capacity == ()
