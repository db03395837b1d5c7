"""The tcp kind and agent/probers/net.py against loopback TCP and TLS servers."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from typing import Any

import pytest
from pydantic import ValidationError

from agent import vocabulary as v
from agent.probers.base import ProbeContext, ProbeFailed
from agent.probers.net import connect_error, open_connection, resolve
from agent.probers.tcp import SPEC, TcpProbe
from agent.results import Reason
from agent.vocabulary import Detail
from tests.agent.probers.conftest import RunProbe
from tests.peers.dns_server import closed_port
from tests.peers.tls_servers import SERVICE_NAME, TlsPki, serve, silent


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsPki:
    return TlsPki.create(tmp_path_factory.mktemp("pki"))


def _context(timeout: float = 5.0) -> ProbeContext:
    return ProbeContext(
        deadline=time.monotonic() + timeout,
        log=logging.LoggerAdapter(logging.getLogger("test"), {}),
    )


def _tls(pki: TlsPki, **extra: Any) -> dict[str, Any]:
    return {
        "tls": True,
        "tls_config": {"ca_file": str(pki.ca_file), "server_name": SERVICE_NAME, **extra},
    }


async def test_connect(run_probe: RunProbe) -> None:
    async with serve() as listener:
        result = await run_probe(
            "tcp", {"address": listener.address}, conditions=["[CONNECTED] == true"]
        )
    assert result.success, result.message
    assert result.conditions[0].observed == "[CONNECTED] (true) == true"
    assert result.info_value(Detail.REMOTE_ADDRESS) == "127.0.0.1"
    assert {"resolve", "connect"} <= dict(result.phases).keys()
    assert "tls" not in dict(result.phases)
    assert listener.accepted == 1


async def test_refused(run_probe: RunProbe) -> None:
    result = await run_probe("tcp", {"address": f"127.0.0.1:{closed_port()}"})
    assert result.reason is Reason.CONNECT_REFUSED
    assert result.message == "connection refused"


@pytest.mark.parametrize(
    ("condition", "success"),
    [
        ("[BODY] contains echo: PING", True),
        ('[BODY] == "echo: PING"', False),  # the newline is part of the body
        ("[BODY] matches ^echo: PING$", True),
        ("[BODY] contains PONG", False),
    ],
)
async def test_send_and_expect(run_probe: RunProbe, condition: str, success: bool) -> None:
    async with serve() as listener:
        result = await run_probe(
            "tcp", {"address": listener.address, "send": "PING\n"}, conditions=[condition]
        )
    assert listener.received == [b"PING\n"]
    assert "exchange" in dict(result.phases)
    assert result.success is success, result.message
    if not success:
        assert result.reason is Reason.BODY_MISMATCH
        assert result.message.startswith("[BODY] (")


async def test_tls_exchange(run_probe: RunProbe, pki: TlsPki) -> None:
    async with serve(pki.server_context("valid")) as listener:
        result = await run_probe(
            "tcp",
            {"address": listener.address, "send": "PING", **_tls(pki)},
            conditions=["[BODY] == echo: PING", "[TLS_VERSION] == TLS 1.3", "[CERT_EXPIRY] > 30d"],
        )
    assert result.success, result.message
    assert result.value(v.SSL_EARLIEST_CERT_EXPIRY) == pki.certs["valid"].not_after.timestamp()
    assert result.info_value(Detail.TLS_VERSION) == "TLS 1.3"
    assert dict(result.phases)["tls"] > 0


@pytest.mark.parametrize(
    ("cert", "extra", "message"),
    [
        ("expired", {}, "certificate verify failed: certificate has expired"),
        ("self_signed", {}, "certificate verify failed: self-signed certificate"),
        ("untrusted", {}, "certificate verify failed: unable to get local issuer certificate"),
        ("wrong_host", {}, "certificate verify failed: Hostname mismatch"),
        ("valid", {"min_version": "TLS1.3"}, "TLS handshake failed: "),  # served TLS 1.2 only
    ],
)
async def test_tls_failures(
    run_probe: RunProbe, pki: TlsPki, cert: str, extra: dict[str, Any], message: str
) -> None:
    capped = ssl.TLSVersion.TLSv1_2 if extra else None
    async with serve(pki.server_context(cert, max_version=capped)) as listener:
        result = await run_probe("tcp", {"address": listener.address, **_tls(pki, **extra)})
    assert result.reason is Reason.TLS_ERROR
    assert result.message.startswith(message), result.message


async def test_insecure_skip_verify(run_probe: RunProbe, pki: TlsPki) -> None:
    async with serve(pki.server_context("self_signed")) as listener:
        settings = {"address": listener.address, **_tls(pki, insecure_skip_verify=True)}
        result = await run_probe("tcp", settings, conditions=["[TLS_VERSION] == TLS 1.3"])
    assert result.success, result.message


@pytest.mark.parametrize("tls", [False, True])
async def test_silent_after_send_times_out(run_probe: RunProbe, pki: TlsPki, tls: bool) -> None:
    context = pki.server_context("valid") if tls else None
    async with serve(context, handler=silent) as listener:
        settings = {"address": listener.address, "send": "PING\n", **(_tls(pki) if tls else {})}
        result = await run_probe("tcp", settings, timeout=0.5)
    assert result.reason is Reason.TIMEOUT
    assert result.message == "no answer within 0.5s (during exchange)"
    assert result.duration < 0.5 + 1
    assert listener.received == [b"PING\n"]


async def test_tls_server_that_never_handshakes(run_probe: RunProbe, pki: TlsPki) -> None:
    async with serve(handler=silent) as listener:
        result = await run_probe("tcp", {"address": listener.address, **_tls(pki)}, timeout=0.5)
    assert result.reason is Reason.TIMEOUT
    assert result.message == "no answer within 0.5s (during tls)"
    assert result.duration < 0.5 + 1


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"address": "pay.bank.test"}, "'pay.bank.test' is not host:port"),
        ({"address": ":443"}, "':443' has no host"),
        ({"address": "pay.bank.test:https"}, "the port must be a number from 1 to 65535"),
        ({"address": "pay.bank.test:70000"}, "the port must be a number from 1 to 65535"),
        ({"address": "pay.bank.test:0"}, "the port must be a number from 1 to 65535"),
        ({"address": "pay.bank.test:1", "read_bytes": 0}, "greater than or equal to 1"),
        ({"address": "pay.bank.test:1", "ip_protocol": "ipx"}, "'auto', 'ip4' or 'ip6'"),
        ({"address": "pay.bank.test:1", "expect": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_config(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TcpProbe.model_validate(settings)


@pytest.mark.parametrize(
    ("settings", "target"),
    [
        ({"address": "pay.bank.test:25"}, "tcp://pay.bank.test:25"),
        ({"address": "pay.bank.test:465", "tls": True}, "tls://pay.bank.test:465"),
    ],
)
def test_target(settings: dict[str, Any], target: str) -> None:
    assert SPEC.target(TcpProbe.model_validate(settings)) == target


# agent/probers/net.py


@pytest.mark.parametrize(
    ("exc", "reason", "message"),
    [
        (ConnectionRefusedError(), Reason.CONNECT_REFUSED, "connection refused"),
        (ConnectionResetError(), Reason.CONNECT_ERROR, "connection closed by the peer"),
        (BrokenPipeError(), Reason.CONNECT_ERROR, "connection closed by the peer"),
        (
            asyncio.IncompleteReadError(b"", 2),
            Reason.CONNECT_ERROR,
            "connection closed by the peer",
        ),
        (
            socket.gaierror(-2, "Name or service not known"),
            Reason.DNS_ERROR,
            "cannot resolve: Name or service not known",
        ),
        (
            OSError(101, "Network is unreachable"),
            Reason.CONNECT_ERROR,
            "OSError: [Errno 101] Network is unreachable",
        ),
        (ssl.SSLError(1, "[SSL] bad"), Reason.TLS_ERROR, "TLS handshake failed: "),
    ],
)
def test_connect_error(exc: BaseException, reason: Reason, message: str) -> None:
    failed = connect_error(exc)
    assert failed.reason is reason
    assert failed.message.startswith(message)


@pytest.mark.parametrize(
    ("host", "ip_protocol", "expected"),
    [
        ("127.0.0.1", "auto", ["127.0.0.1"]),
        ("127.0.0.1", "ip4", ["127.0.0.1"]),
        ("::1", "ip6", ["::1"]),
    ],
)
async def test_resolve_literal(host: str, ip_protocol: str, expected: list[str]) -> None:
    ctx = _context()
    assert await resolve(ctx, host, 80, ip_protocol) == expected
    assert ctx.phases == {"resolve": 0.0}  # nothing was looked up


@pytest.mark.parametrize(
    ("host", "ip_protocol", "message"),
    [
        ("127.0.0.1", "ip6", "127.0.0.1 is not an ip6 address"),
        ("::1", "ip4", "::1 is not an ip4 address"),
        ("x" * 64 + ".example", "auto", f"cannot resolve {'x' * 64}.example: "),
    ],
)
async def test_resolve_failures(host: str, ip_protocol: str, message: str) -> None:
    with pytest.raises(ProbeFailed) as raised:
        await resolve(_context(), host, 80, ip_protocol)
    assert raised.value.reason is Reason.DNS_ERROR
    assert raised.value.message.startswith(message)


async def test_open_connection_records_phases_and_address(pki: TlsPki) -> None:
    ctx = _context()
    client = ssl.create_default_context(cafile=str(pki.ca_file))
    async with serve(pki.server_context("valid")) as listener:
        _, writer = await open_connection(
            ctx, "127.0.0.1", listener.port, tls=client, server_hostname=SERVICE_NAME
        )
        assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
        writer.close()
    assert list(ctx.phases) == ["resolve", "connect", "tls"]
    assert ctx.info == {"remote_address": "127.0.0.1"}


async def test_open_connection_closes_the_socket_when_cut_short(pki: TlsPki) -> None:
    """A deadline that cuts the handshake leaves no socket behind: the server sees EOF."""
    client = ssl.create_default_context(cafile=str(pki.ca_file))
    async with serve(handler=silent) as listener:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await open_connection(
                    _context(), "127.0.0.1", listener.port, tls=client, server_hostname=SERVICE_NAME
                )
        for _ in range(50):
            if listener.closed_by_client:
                break
            await asyncio.sleep(0.01)
        assert listener.closed_by_client == 1
