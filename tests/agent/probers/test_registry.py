"""Every registered kind keeps to its spec: what its runs record is what the spec declares.

Each kind runs against real loopback peers in ways that make it record all it can (TLS,
quotas, SOA serials, capacity); the families its results carry must be declared by its spec
and every declared family must show up. A new kind joins ``SCENARIOS`` with its peers (the
series budget test, tests/exporters/prometheus/test_budget.py, runs them in an agent too).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from agent import vocabulary as v
from agent.probers import REGISTRY
from agent.results import Result
from agent.vocabulary import Family
from tests.agent.probers.conftest import RunProbe
from tests.agent.probers.test_credential import client_cert
from tests.peers.dns_server import DnsServer
from tests.peers.grpc_servers import serve_grpc
from tests.peers.http_servers import serve
from tests.peers.tls_servers import TlsPki
from tests.peers.tls_servers import serve as serve_tls

# Starts a kind's peers on the stack (they run until it closes) and returns the settings of a
# probe of that kind that makes it record all it can.
Scenario = Callable[[AsyncExitStack, Path, TlsPki], Awaitable[dict[str, Any]]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(kind: str) -> Callable[[Scenario], Scenario]:
    def register(run: Scenario) -> Scenario:
        SCENARIOS[kind] = run
        return run

    return register


def written(result: Result) -> set[Family]:
    """The families a result gives the views: its values and labelled series, its *_info
    details, its capacity."""
    families = {family for family, _ in result.values}
    families |= {item.family for item in result.series}
    details = {detail for detail, _ in result.info}
    families |= {f for f in v.INFO_FAMILIES if f.details[0] in details}
    for reading in result.capacity:
        if reading.used is not None:
            families.add(v.CAPACITY_USED)
        if reading.limit is not None:
            families.add(v.CAPACITY_LIMIT)
        if reading.utilisation is not None:
            families.add(v.CAPACITY_UTILISATION)
    return families


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsPki:
    return TlsPki.create(tmp_path_factory.mktemp("pki"))


def _server_context(pki: TlsPki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert = pki.certs["valid"]
    context.load_cert_chain(cert.cert_file, cert.key_file)
    return context


async def _quota(_: web.Request) -> web.Response:
    headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "40"}
    return web.Response(text="{}", headers=headers)


async def _moved(_: web.Request) -> web.Response:
    raise web.HTTPFound("/quota")


def _text(text: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(text=text)

    return handler


@scenario("http")
async def _http(stack: AsyncExitStack, _: Path, pki: TlsPki) -> dict[str, Any]:
    app = web.Application()
    app.router.add_get("/quota", _quota)
    app.router.add_get("/moved", _moved)
    peer = await stack.enter_async_context(serve(app, ssl_context=_server_context(pki)))
    return {"url": peer.url("/moved"), "tls": {"ca_file": str(pki.ca_file)}}


@scenario("tcp")
async def _tcp(stack: AsyncExitStack, _: Path, pki: TlsPki) -> dict[str, Any]:
    listener = await stack.enter_async_context(serve_tls(_server_context(pki)))
    settings = {
        "address": listener.address,
        "tls": True,
        "tls_config": {"ca_file": str(pki.ca_file)},
    }
    return {**settings, "send": "PING\n"}


@scenario("tls")
async def _tls(stack: AsyncExitStack, _: Path, pki: TlsPki) -> dict[str, Any]:
    listener = await stack.enter_async_context(serve_tls(_server_context(pki)))
    return {"address": listener.address, "tls": {"ca_file": str(pki.ca_file)}}


@scenario("dns")
async def _dns(stack: AsyncExitStack, _: Path, __: TlsPki) -> dict[str, Any]:
    zone = {"bank.test.": {"SOA": ["ns1.bank.test. hostmaster.bank.test. 7 3600 600 86400 60"]}}
    server = await stack.enter_async_context(DnsServer(zone))
    settings = {"query_name": "bank.test", "query_type": "SOA", "server": server.address}
    return settings


@scenario("grpc")
async def _grpc(stack: AsyncExitStack, _: Path, __: TlsPki) -> dict[str, Any]:
    server = await stack.enter_async_context(serve_grpc())
    return {"address": server.address}


@scenario("host")
async def _host(_: AsyncExitStack, __: Path, ___: TlsPki) -> dict[str, Any]:
    return {}


@scenario("process")
async def _process(_: AsyncExitStack, tmp: Path, __: TlsPki) -> dict[str, Any]:
    pid_file = tmp / "self.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    return {"pid_file": str(pid_file)}


@scenario("scrape")
async def _scrape(stack: AsyncExitStack, _: Path, __: TlsPki) -> dict[str, Any]:
    text = "# TYPE pool_in_use gauge\npool_in_use 5\n# TYPE pool_max gauge\npool_max 20\n"
    app = web.Application()
    app.router.add_get("/metrics", _text(text))
    peer = await stack.enter_async_context(serve(app))
    resources = {"pool:db": {"used": "pool_in_use", "limit": "pool_max"}}
    return {"url": peer.url("/metrics"), "resources": resources}


@scenario("flow")
async def _flow(stack: AsyncExitStack, _: Path, pki: TlsPki) -> dict[str, Any]:
    app = web.Application()
    app.router.add_get("/quota", _quota)
    peer = await stack.enter_async_context(serve(app, ssl_context=_server_context(pki)))
    tls = {"ca_file": str(pki.ca_file)}
    steps = [
        {
            "name": "first",
            "url": peer.url("/quota"),
            "tls": tls,
            "capture": {"code": {"status": True}},
        },
        {"name": "second", "url": peer.url("/quota?code=${flow.code}"), "tls": tls},
    ]
    return {"steps": steps}


@scenario("command")
async def _command(_: AsyncExitStack, tmp: Path, __: TlsPki) -> dict[str, Any]:
    script = tmp / "check_ok"
    script.write_text("#!/bin/sh\necho 'OK - fine | time=12ms;100;200;0; size=2KB'\n")
    script.chmod(0o755)
    return {"argv": [str(script)]}


@scenario("credential")
async def _credential(_: AsyncExitStack, tmp: Path, __: TlsPki) -> dict[str, Any]:
    cert, key, _ = client_cert(trustme.CA(), tmp, issued_days_ago=10, expires_in_days=80)
    return {"cert_file": str(cert), "key_file": str(key)}


def test_every_kind_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(REGISTRY)


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as running:
        yield running


@pytest.mark.parametrize("kind", sorted(REGISTRY))
async def test_a_kind_records_exactly_the_families_it_declares(
    kind: str, run_probe: RunProbe, stack: AsyncExitStack, tmp_path: Path, pki: TlsPki
) -> None:
    result = await run_probe(kind, await SCENARIOS[kind](stack, tmp_path, pki))
    assert result.success, f"{kind}: {result.reason}: {result.message}"
    seen = written(result)
    declared = set(REGISTRY[kind].families)
    assert seen - declared == set(), f"{kind} records undeclared {sorted(f.name for f in seen)}"
    assert declared - seen == set(), f"{kind} never recorded {sorted(f.name for f in declared)}"


def test_families_are_declared_once() -> None:
    """Two families of one name would be two series sets under one name in /metrics."""
    every: dict[str, Any] = {}
    for name in dir(v):
        family = getattr(v, name)
        if isinstance(family, Family):
            assert every.setdefault(family.name, family) is family, family.name
