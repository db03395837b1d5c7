"""The simulated integrations: real listeners, verified TLS, and faults a client can see."""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from agent.demo import DemoServices, Fault, Service, start_services
from agent.demo.topology import PATTERNS, integrations

KEYS = [i.key for i in integrations()]
EXTERNAL = [i.key for i in integrations() if i.scope == "external"]
INTERNAL = [i.key for i in integrations() if i.scope == "internal"]


async def get(service: Service, tls: ssl.SSLContext, path: str = "/health") -> tuple[int, Any]:
    """GET over the loopback, verifying the certificate against ``<name>.demo.test``."""
    kwargs: dict[str, Any] = {}
    if service.spec.tls:
        kwargs = {"ssl": tls, "server_hostname": service.spec.hostname}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session,
        session.get(service.url + path, **kwargs) as response,
    ):
        return response.status, await response.json()


async def cert_days_left(service: Service, tls: ssl.SSLContext) -> float:
    _, writer = await asyncio.open_connection(
        "127.0.0.1", service.port, ssl=tls, server_hostname=service.spec.hostname
    )
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    not_after = x509.load_der_x509_certificate(der).not_valid_after_utc
    return (not_after - datetime.datetime.now(datetime.UTC)).total_seconds() / 86400


async def line(port: int, text: bytes = b"PING\n") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(text)
    data = await asyncio.wait_for(reader.readline(), 3)
    writer.close()
    return data


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_topology_has_the_three_patterns_and_known_dependencies() -> None:
    assert [p.name for p in PATTERNS] == ["bill_pay", "account", "client"]
    assert {i.key for i in integrations() if i.scope == "external"} == {
        "bill_pay/payment_processor",
        "bill_pay/biller_network",
        "account/core_ledger",
        "client/kyc_vendor",
    }
    for spec in integrations():
        assert set(spec.depends_on) <= set(KEYS), spec.key
        assert spec.runbook == f"https://runbooks.example.com/{spec.pattern}/{spec.name}"


@pytest.mark.parametrize("key", KEYS)
async def test_every_service_is_healthy_and_verifiable(
    demo: DemoServices, client_tls: ssl.SSLContext, key: str
) -> None:
    service = demo[key]
    assert service.url.startswith("https://" if key in EXTERNAL else "http://")
    status, body = await get(service, client_tls)
    assert (status, body["status"], body["service"]) == (200, "UP", service.spec.name)


@pytest.mark.parametrize("key", EXTERNAL)
async def test_a_wrong_server_name_fails_verification(
    demo: DemoServices, client_tls: ssl.SSLContext, key: str
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        await asyncio.open_connection(
            "127.0.0.1", demo[key].port, ssl=client_tls, server_hostname="other.demo.test"
        )


@pytest.mark.parametrize(
    ("key", "path", "status", "field", "expected"),
    [
        # protected: refused without the demo token (the agent's auth check sees the same)
        ("account/core_ledger", "/v1/accounts/ACC-1/balance", 401, "error", "unauthorized"),
        ("client/client_service", "/v1/clients/C-9", 200, "status", "verified"),
        (
            "bill_pay/biller_network",
            "/v1/billers",
            200,
            "billers",
            # the demo's planted leak (no_sensitive_data fails on it)
            [{"id": "ELEC-001", "name": "City Power", "card": "4111111111111111"}],
        ),
    ],
)
async def test_business_endpoints_answer(
    demo: DemoServices,
    client_tls: ssl.SSLContext,
    key: str,
    path: str,
    status: int,
    field: str,
    expected: object,
) -> None:
    got_status, body = await get(demo[key], client_tls, path)
    assert (got_status, body[field]) == (status, expected)


async def test_latency_is_added_to_every_answer(
    demo: DemoServices, client_tls: ssl.SSLContext
) -> None:
    service = demo["bill_pay/payment_processor"]
    await service.update(latency=0.5)
    started = time.monotonic()
    status, _ = await get(service, client_tls)
    assert status == 200
    assert time.monotonic() - started >= 0.5
    await service.update(latency=0.0)
    assert service.fault == Fault()


async def test_a_status_fault_answers_down_and_impacts_dependants(
    demo: DemoServices, client_tls: ssl.SSLContext
) -> None:
    await demo["account/core_ledger"].update(status=503)
    assert await get(demo["account/core_ledger"], client_tls) == (
        503,
        {"status": "DOWN", "service": "core_ledger", "error": "injected by the demo"},
    )
    status, body = await get(demo["account/account_service"], client_tls)
    assert (status, body["checks"]) == (503, {"account/core_ledger": "DOWN"})
    status, body = await get(demo["bill_pay/payment_workflow"], client_tls)
    assert (status, body["checks"]) == (
        503,
        {"account/account_service": "DOWN", "client/client_service": "UP"},
    )
    assert demo["account/core_ledger"].line_port is not None
    assert await line(demo["account/core_ledger"].line_port) == b"ERR 503 unavailable\n"
    await demo.heal()
    assert (await get(demo["bill_pay/payment_workflow"], client_tls))[0] == 200


async def test_down_refuses_connections_and_comes_back_on_the_same_ports(
    demo: DemoServices, client_tls: ssl.SSLContext
) -> None:
    ledger = demo["account/core_ledger"]
    port, line_port = ledger.port, ledger.line_port
    assert line_port is not None
    assert await line(line_port) == b"PONG core_ledger\n"
    await ledger.update(down=True)
    for target in (port, line_port):
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", target)
    assert (await get(demo["account/account_service"], client_tls))[0] == 503
    await ledger.update(down=False)
    assert (ledger.port, ledger.line_port) == (port, line_port)
    assert (await get(ledger, client_tls))[0] == 200
    assert await line(line_port) == b"PONG core_ledger\n"


async def test_down_cuts_kept_alive_connections(demo: DemoServices) -> None:
    service = demo["client/client_service"]
    async with aiohttp.ClientSession() as session:
        async with session.get(service.url + "/health") as response:
            assert response.status == 200
        await service.update(down=True)
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(service.url + "/health") as response:
                pass


async def test_near_expiry_serves_a_certificate_that_expires_within_days(
    demo: DemoServices, client_tls: ssl.SSLContext
) -> None:
    vendor = demo["client/kyc_vendor"]
    assert await cert_days_left(vendor, client_tls) > 365
    await vendor.update(near_expiry=True)
    assert 4 < await cert_days_left(vendor, client_tls) < 10
    assert (await get(vendor, client_tls))[0] == 200  # still trusted, still healthy
    await vendor.update(near_expiry=False)
    assert await cert_days_left(vendor, client_tls) > 365


async def test_stop_frees_every_port(tmp_path: Path) -> None:
    demo = await start_services(tmp_path)
    ports = [s.port for s in demo.values()] + [
        s.line_port for s in demo.values() if s.line_port is not None
    ]
    await demo["account/core_ledger"].update(down=True)  # a stopped service stops cleanly too
    await demo.stop()
    assert len(ports) == len(KEYS) + 1
    assert [p for p in ports if not port_is_free(p)] == []
