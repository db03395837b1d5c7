"""The demo's capacity: a pool that leaks, partners' rate limits, and our credentials' files."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import aiohttp
import pytest
import trustme

from agent.demo import DemoServices
from agent.demo.capacity import (
    CLIENT_CERT,
    CLIENT_KEY,
    TOKEN,
    Pool,
    RateLimit,
    write_credentials,
)
from agent.probers.credential_read import read_certificate, read_token
from agent.probers.scrape import series_index

DAY = 86400


async def test_a_pool_leaks_until_full_and_heals() -> None:
    pool = Pool(40)
    assert pool.in_use() == 8  # a fifth busy
    pool.leak(100.0)
    await asyncio.sleep(0.1)
    assert 12 <= pool.in_use() <= 40
    await asyncio.sleep(0.3)
    assert pool.in_use() == 40  # capped at its size
    pool.leak(0.0)
    assert pool.in_use() == 8
    index = series_index(pool.exposition(), False, frozenset({"demo_db_pool_connections"}))
    states = {labels["state"]: value for labels, value in index["demo_db_pool_connections"]}
    assert states == {"in_use": 8, "idle": 32}


async def test_a_rate_limit_counts_refuses_and_refills() -> None:
    limit = RateLimit(3, window=0.3)
    answers = [limit.take() for _ in range(4)]
    assert [allowed for allowed, _ in answers] == [True, True, True, False]
    assert [h["X-RateLimit-Remaining"] for _, h in answers] == ["2", "1", "0", "0"]
    assert answers[0][1]["X-RateLimit-Limit"] == "3"
    assert "Retry-After" in answers[3][1] and "Retry-After" not in answers[2][1]
    await asyncio.sleep(0.35)
    allowed, headers = limit.take()
    assert allowed and headers["X-RateLimit-Remaining"] == "2"


def test_credentials_have_the_ages_the_demo_says(tmp_path: Path) -> None:
    write_credentials(trustme.CA(), tmp_path)
    now = time.time()
    cert = read_certificate(str(tmp_path / CLIENT_CERT), str(tmp_path / CLIENT_KEY))
    assert cert.not_after is not None and cert.not_before is not None
    assert cert.not_after - now == pytest.approx(45 * DAY, abs=60)
    assert now - cert.not_before == pytest.approx(45 * DAY, abs=60)
    token = read_token(str(tmp_path / TOKEN))
    assert token.not_after is not None and token.not_before is not None
    assert token.not_after - now == pytest.approx(5 * DAY, abs=60)
    assert token.subject == "oversight-agent"


async def test_services_show_their_pool_and_quota(
    demo: DemoServices, client_tls: ssl.SSLContext
) -> None:
    workflow, processor = demo["bill_pay/payment_workflow"], demo["bill_pay/payment_processor"]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{workflow.url}/metrics") as response:
            text = await response.text()
        assert 'demo_db_pool_max_connections{pool="primary"} 40' in text
        await workflow.update(pool_leak=1e6)
        async with session.get(f"{workflow.url}/metrics") as response:
            assert 'state="in_use"} 40' in await response.text()
        await workflow.update(pool_leak=0.0)
        assert workflow.pool is not None and workflow.pool.in_use() == 8
        async with session.get(
            f"{processor.url}/health", ssl=client_tls, server_hostname=processor.spec.hostname
        ) as response:
            assert response.headers["X-RateLimit-Limit"] == str(processor.spec.rate_limit)
            assert int(response.headers["X-RateLimit-Remaining"]) < (processor.spec.rate_limit or 0)
    assert (demo.workdir / CLIENT_CERT).is_file() and (demo.workdir / TOKEN).is_file()
