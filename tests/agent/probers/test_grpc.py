"""The grpc kind against loopback grpc.aio servers speaking grpc.health.v1."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError

from agent.probers.grpc import SPEC, GrpcProbe
from agent.results import Reason
from tests.agent.probers.conftest import RunProbe
from tests.peers.grpc_servers import NOT_SERVING, SERVING, serve_echoing_grpc, serve_grpc
from tests.peers.tls_servers import SERVICE_NAME, TlsPki, serve, silent


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsPki:
    return TlsPki.create(tmp_path_factory.mktemp("grpc-pki"))


@pytest.mark.parametrize(
    ("service", "success", "reason", "serving", "grpc_status", "message"),
    [
        ("", True, None, "SERVING", "OK", ""),
        ("payments", True, None, "SERVING", "OK", ""),
        (
            "ledger",
            False,
            Reason.STATUS_MISMATCH,
            "NOT_SERVING",
            "OK",
            "[SERVING_STATUS] (NOT_SERVING) == SERVING",
        ),
        (
            "nobody",
            False,
            Reason.STATUS_MISMATCH,
            "SERVICE_UNKNOWN",
            "NOT_FOUND",
            "[SERVING_STATUS] (SERVICE_UNKNOWN) == SERVING",
        ),
    ],
)
async def test_serving_status(
    run_probe: RunProbe,
    service: str,
    success: bool,
    reason: Reason | None,
    serving: str,
    grpc_status: str,
    message: str,
) -> None:
    statuses = {"": SERVING, "payments": SERVING, "ledger": NOT_SERVING}
    async with serve_grpc(statuses) as peer:
        result = await run_probe("grpc", {"address": peer.address, "service": service})
        observed = await run_probe(
            "grpc",
            {"address": peer.address, "service": service},
            conditions=[f"[SERVING_STATUS] == {serving}", f"[GRPC_STATUS] == {grpc_status}"],
        )
    assert (result.success, result.reason, result.message) == (success, reason, message)
    assert observed.success, observed.message  # the facts were exactly these
    assert {"connect", "rpc"} <= dict(result.phases).keys()
    assert result.values == ()


async def test_without_health_service_is_a_protocol_error(run_probe: RunProbe) -> None:
    async with serve_grpc(health=False) as peer:
        result = await run_probe("grpc", {"address": peer.address})
    assert (result.reason, result.message) == (
        Reason.PROTOCOL_ERROR,
        "the server does not implement grpc.health.v1",
    )


async def test_refused_port(run_probe: RunProbe, closed_port: str) -> None:
    result = await run_probe("grpc", {"address": closed_port}, timeout=3)
    assert (result.reason, result.message) == (Reason.CONNECT_REFUSED, "connection refused")


def _tls(pki: TlsPki, **extra: Any) -> dict[str, Any]:
    return {"tls": True, "tls_config": {"ca_file": str(pki.ca_file), **extra}}


@pytest.mark.parametrize(
    ("cert", "server_name", "reason"),
    [
        ("valid", SERVICE_NAME, None),
        ("valid", None, None),  # the certificate also names 127.0.0.1
        ("untrusted", SERVICE_NAME, Reason.TLS_ERROR),
        ("expired", SERVICE_NAME, Reason.TLS_ERROR),
        ("wrong_host", SERVICE_NAME, Reason.TLS_ERROR),
    ],
)
async def test_tls(
    run_probe: RunProbe, pki: TlsPki, cert: str, server_name: str | None, reason: Reason | None
) -> None:
    extra = {"server_name": server_name} if server_name else {}
    async with serve_grpc(pem=pki.certs[cert]) as peer:
        result = await run_probe("grpc", {"address": peer.address, **_tls(pki, **extra)})
    assert (result.success, result.reason) == (reason is None, reason), result.message
    if reason is not None:
        assert result.message.startswith("TLS handshake failed: ")


async def test_plaintext_client_against_tls_server_fails(run_probe: RunProbe, pki: TlsPki) -> None:
    async with serve_grpc(pem=pki.certs["valid"]) as peer:
        result = await run_probe("grpc", {"address": peer.address}, timeout=2)
    assert result.reason is Reason.CONNECT_ERROR
    assert result.message.startswith("UNAVAILABLE: "), result.message


async def test_silent_server_times_out_within_the_deadline(run_probe: RunProbe) -> None:
    async with serve(handler=silent) as listener:
        started = time.monotonic()
        result = await run_probe("grpc", {"address": listener.address}, timeout=1.0)
        elapsed = time.monotonic() - started
    assert result.reason is Reason.TIMEOUT
    assert result.message == "no answer within 1s (during connect)"
    assert elapsed < 1.0 + 1.0
    assert listener.accepted >= 1


async def test_metadata_reaches_the_server_and_stays_out_of_messages(
    run_probe: RunProbe,
) -> None:
    secret = "s3cr3t-token-value"
    settings = {
        "service": "nobody",
        "authority": "health.oversight.test",
        "metadata": {"Authorization": f"Bearer {secret}", "x-tenant": "bank-a"},
    }
    async with serve_grpc() as peer:
        result = await run_probe(
            "grpc",
            {"address": peer.address, **settings},
            trace_headers={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
        )
    assert peer.metadata, "the server saw no call"
    seen = peer.metadata[-1]
    assert seen["authorization"] == f"Bearer {secret}"
    assert seen["x-tenant"] == "bank-a"
    assert str(seen["traceparent"]).startswith("00-111")
    assert result.reason is Reason.STATUS_MISMATCH
    assert secret not in result.message
    assert secret not in SPEC.target(
        GrpcProbe.model_validate({"address": peer.address, **settings})
    )


async def test_secret_metadata_echoed_in_details_is_redacted(run_probe: RunProbe) -> None:
    """A server that echoes the request back in an error never makes us repeat a secret."""
    metadata = {"authorization": "Bearer abc123xyz", "x-api-key": "k-0987654"}
    async with serve_echoing_grpc() as peer:
        result = await run_probe("grpc", {"address": peer.address, "metadata": metadata})
    assert peer.metadata[-1]["x-api-key"] == "k-0987654"
    assert result.reason is Reason.PROTOCOL_ERROR
    assert result.message.startswith("the health check failed: PERMISSION_DENIED: denied for ")
    assert "authorization=<redacted>" in result.message
    assert "x-api-key=<redacted>" in result.message
    assert "abc123xyz" not in result.message and "k-0987654" not in result.message


@pytest.mark.parametrize(
    ("settings", "target"),
    [
        ({"address": "db.bank.test:50051"}, "grpc://db.bank.test:50051/"),
        ({"address": "db:443", "service": "payments", "tls": True}, "grpcs://db:443/payments"),
    ],
)
def test_target(settings: dict[str, Any], target: str) -> None:
    assert SPEC.target(GrpcProbe.model_validate(settings)) == target


@pytest.mark.parametrize(
    "settings",
    [
        {"address": "no-port"},
        {"address": "h:1", "metadata": {"grpc-timeout": "1"}},
        {"address": "h:1", "metadata": {"bad key": "x"}},
        {"address": "h:1", "tls": True, "tls_config": {"insecure_skip_verify": True}},
        {"address": "h:1", "unknown": 1},
    ],
)
def test_config_errors(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        GrpcProbe.model_validate(settings)
