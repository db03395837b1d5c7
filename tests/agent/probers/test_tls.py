"""The tls kind against loopback TLS servers with a trustme CA (tests/peers/tls_servers.py)."""

from __future__ import annotations

import asyncio
import re
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from pydantic import ValidationError

from agent import vocabulary as v
from agent.probers.tls import SPEC, TlsProbe
from agent.probers.tls_check import hostname_matches
from agent.results import Reason, Result
from tests.agent.probers.conftest import RunProbe
from tests.peers.tls_servers import OTHER_NAME, SERVICE_NAME, TlsPki, serve, silent


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsPki:
    return TlsPki.create(tmp_path_factory.mktemp("pki"))


def _leaf(pki: TlsPki, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates(pki.certs[name].cert_file.read_bytes())[0]


def _settings(pki: TlsPki, address: str, **tls: Any) -> dict[str, Any]:
    return {
        "address": address,
        "server_name": SERVICE_NAME,
        "tls": {"ca_file": str(pki.ca_file), **tls},
    }


def _info(result: Result) -> dict[str, str]:
    return dict(result.info)


async def test_valid_certificate_reports_everything(run_probe: RunProbe, pki: TlsPki) -> None:
    leaf = _leaf(pki, "valid")
    conditions = [
        "[CHAIN_VERIFIED] == true",
        "[HOSTNAME_VERIFIED] == true",
        "[ISSUER] contains O=Oversight Test CA",
        f"[SUBJECT] contains CN={SERVICE_NAME}",
        f"[SANS] == {SERVICE_NAME},127.0.0.1",
        "[TLS_VERSION] == TLS 1.3",
        "[CIPHER] matches ^TLS_",
        "[CERT_EXPIRY] > 89d",
        "[CERT_EXPIRY] < 91d",
    ]
    async with serve(pki.server_context("valid")) as listener:
        result = await run_probe("tls", _settings(pki, listener.address), conditions=conditions)
    assert result.success, result.message
    assert [c.observed for c in result.conditions if not c.success] == []
    assert result.value(v.SSL_EARLIEST_CERT_EXPIRY) == pki.certs["valid"].not_after.timestamp()
    info = _info(result)
    assert info["ssl_leaf_issuer"] == leaf.issuer.rfc4514_string()
    assert info["ssl_leaf_subject"] == leaf.subject.rfc4514_string()
    assert info["ssl_leaf_sans"] == f"{SERVICE_NAME},127.0.0.1"
    assert info["ssl_leaf_serial"] == format(leaf.serial_number, "x")
    assert info["tls_version"] == "TLS 1.3"
    assert {"resolve", "connect", "tls"} <= dict(result.phases).keys()
    assert listener.accepted == 1  # a trusted certificate costs one handshake


@pytest.mark.parametrize(
    ("cert", "message", "chain", "hostname"),
    [
        ("expired", r"certificate expired at \S+Z: CN=service\.oversight\.test,", False, True),
        ("not_yet_valid", r"certificate not valid before \S+Z: CN=service\.oversight", False, True),
        (
            "untrusted",
            r"untrusted issuer: unable to get local issuer .*Somebody Else CA",
            False,
            True,
        ),
        (
            "self_signed",
            r"untrusted issuer: self-signed certificate; issuer CN=service",
            False,
            True,
        ),
        (
            "wrong_host",
            rf"hostname mismatch: the certificate is for {OTHER_NAME}, not {SERVICE_NAME}$",
            True,
            False,
        ),
    ],
)
async def test_bad_certificates_fail_but_still_report(
    run_probe: RunProbe, pki: TlsPki, cert: str, message: str, chain: bool, hostname: bool
) -> None:
    async with serve(pki.server_context(cert)) as listener:
        result = await run_probe("tls", _settings(pki, listener.address))
        lenient = await run_probe(
            "tls",
            _settings(pki, listener.address, insecure_skip_verify=True),
            conditions=[
                f"[CHAIN_VERIFIED] == {str(chain).lower()}",
                f"[HOSTNAME_VERIFIED] == {str(hostname).lower()}",
            ],
        )
    assert not result.success
    assert result.reason is Reason.TLS_ERROR
    assert re.match(message, result.message), result.message
    # The certificate's details are there even though the probe failed.
    leaf = _leaf(pki, cert)
    assert result.value(v.SSL_EARLIEST_CERT_EXPIRY) == pki.certs[cert].not_after.timestamp()
    assert _info(result)["ssl_leaf_subject"] == leaf.subject.rfc4514_string()
    assert _info(result)["ssl_leaf_issuer"] == leaf.issuer.rfc4514_string()
    assert _info(result)["tls_version"] == "TLS 1.3"
    # insecure_skip_verify: the same facts, and the probe passes.
    assert lenient.success, lenient.message
    assert [c.success for c in lenient.conditions] == [True, True]
    assert lenient.value(v.SSL_EARLIEST_CERT_EXPIRY) == result.value(v.SSL_EARLIEST_CERT_EXPIRY)


async def test_rejected_chain_phases_are_those_of_one_handshake(
    run_probe: RunProbe, pki: TlsPki
) -> None:
    async with serve(pki.server_context("expired")) as listener:
        result = await run_probe("tls", _settings(pki, listener.address))
    assert listener.accepted == 2  # verifying, then reading the certificate it rejected
    assert [name for name, _ in result.phases] == ["resolve", "connect", "tls"]


async def test_system_trust_store_does_not_know_the_test_ca(
    run_probe: RunProbe, pki: TlsPki
) -> None:
    async with serve(pki.server_context("valid")) as listener:
        result = await run_probe("tls", {"address": listener.address, "server_name": SERVICE_NAME})
    assert result.reason is Reason.TLS_ERROR
    assert result.message.startswith("untrusted issuer: ")


@pytest.mark.parametrize(
    ("settings", "success"),
    [
        ({}, True),  # the host 127.0.0.1 is an IP SAN of the valid certificate
        ({"server_name": OTHER_NAME}, False),
        ({"tls": {"server_name": OTHER_NAME}}, False),
        ({"server_name": SERVICE_NAME, "tls": {"server_name": OTHER_NAME}}, True),
    ],
)
async def test_which_name_is_verified(
    run_probe: RunProbe, pki: TlsPki, settings: dict[str, Any], success: bool
) -> None:
    async with serve(pki.server_context("valid")) as listener:
        tls = {"ca_file": str(pki.ca_file), **settings.get("tls", {})}
        result = await run_probe("tls", {**settings, "address": listener.address, "tls": tls})
    assert result.success is success, result.message


async def test_tls12_only_server(run_probe: RunProbe, pki: TlsPki) -> None:
    context = pki.server_context("valid", max_version=ssl.TLSVersion.TLSv1_2)
    async with serve(context) as listener:
        result = await run_probe(
            "tls", _settings(pki, listener.address), conditions=["[TLS_VERSION] == TLS 1.3"]
        )
        refused = await run_probe("tls", _settings(pki, listener.address, min_version="TLS1.3"))
    assert _info(result)["tls_version"] == "TLS 1.2"
    assert result.reason is Reason.TLS_MISMATCH
    assert result.message == "[TLS_VERSION] (TLS 1.2) == TLS 1.3"
    assert refused.reason is Reason.TLS_ERROR
    assert refused.message.startswith("TLS handshake failed: ")


@pytest.mark.parametrize(
    ("condition", "success"), [("[CERT_EXPIRY] > 30d", False), ("[CERT_EXPIRY] > 9d", True)]
)
async def test_expiry_condition(
    run_probe: RunProbe, pki: TlsPki, condition: str, success: bool
) -> None:
    async with serve(pki.server_context("expiring")) as listener:
        result = await run_probe("tls", _settings(pki, listener.address), conditions=[condition])
    assert result.success is success
    if not success:
        assert result.reason is Reason.THRESHOLD
        assert result.message.startswith("[CERT_EXPIRY] (")
    assert result.value(v.SSL_EARLIEST_CERT_EXPIRY) == pki.certs["expiring"].not_after.timestamp()


async def test_server_that_never_handshakes_times_out(run_probe: RunProbe, pki: TlsPki) -> None:
    async with serve(handler=silent) as listener:
        result = await run_probe("tls", _settings(pki, listener.address), timeout=0.5)
        for _ in range(50):  # the client hangs up when its deadline cuts the handshake
            if listener.closed_by_client:
                break
            await asyncio.sleep(0.01)
        assert listener.closed_by_client == 1
    assert result.reason is Reason.TIMEOUT
    assert result.message == "no answer within 0.5s (during tls)"
    assert result.duration < 0.5 + 1


async def test_nothing_listening(run_probe: RunProbe, pki: TlsPki) -> None:
    async with serve(pki.server_context("valid")) as listener:
        address = listener.address
    result = await run_probe("tls", _settings(pki, address))
    assert result.reason is Reason.CONNECT_REFUSED


@pytest.mark.parametrize(
    ("sans", "name", "expected"),
    [
        (("*.bank.test",), "api.bank.test", True),
        (("*.bank.test",), "bank.test", False),
        (("*.bank.test",), "a.api.bank.test", False),
        (("*.test",), "bank.test", False),
        (("API.Bank.Test",), "api.bank.test", True),
        (("api.bank.test",), "API.BANK.TEST", True),
        (("api.bank.test",), "pay.bank.test", False),
        (("api.bank.test", "127.0.0.1"), "127.0.0.1", True),
        (("api.bank.test",), "127.0.0.1", False),
        (("127.0.0.1",), "api.bank.test", False),
        (("::1",), "::1", True),
        (("::1",), "0:0:0:0:0:0:0:1", True),
    ],
)
async def test_hostname_matching_agrees_with_openssl(
    tmp_path: Path, sans: tuple[str, ...], name: str, expected: bool
) -> None:
    """Our check and OpenSSL's (a real handshake with check_hostname) give the same verdict."""
    ca = trustme.CA()
    leaf = ca.issue_cert(*sans)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    async with serve(server) as listener:
        try:
            _, writer = await asyncio.open_connection(
                listener.host, listener.port, ssl=client, server_hostname=name
            )
            writer.close()
            openssl = True
        except ssl.SSLCertVerificationError:
            openssl = False
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    assert (openssl, hostname_matches(cert, name)) == (expected, expected)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"address": "bank.test"}, "is not host:port"),
        ({"address": "bank.test:0"}, "the port must be a number from 1 to 65535"),
        ({"address": "bank.test:443", "ip_protocol": "ip5"}, "'auto', 'ip4' or 'ip6'"),
        ({"address": "bank.test:443", "tls": {"min_version": "SSL3"}}, "'TLS1.0', 'TLS1.1'"),
        ({"address": "bank.test:443", "sni": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_config(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TlsProbe.model_validate(settings)


def test_spec() -> None:
    assert (
        SPEC.target(TlsProbe.model_validate({"address": "pay.bank.test:443"}))
        == "tls://pay.bank.test:443"
    )
    assert SPEC.signals == ("latency", "cert_expiry")
    assert SPEC.default_conditions == ()
    assert {f.name for f in SPEC.facts} == {
        "HOSTNAME_VERIFIED",
        "CHAIN_VERIFIED",
        "ISSUER",
        "SUBJECT",
        "SANS",
        "CIPHER",
        "TLS_VERSION",
        "CERT_EXPIRY",
    }
