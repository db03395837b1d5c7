"""The credential kind: client certificates and JWTs made in the test with known expiry."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
import trustme
from pydantic import ValidationError

from agent import vocabulary as v
from agent.probers import REGISTRY
from agent.probers.credential import CredentialProbe
from agent.probers.shared import Shared
from agent.results import Reason, Severity
from agent.runner import execute
from agent.thresholds import SIGNALS, ThresholdRule
from tests.agent.probers.conftest import RunProbe

DAY = 86400.0


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="Oversight test CA")


def client_cert(
    ca: trustme.CA, directory: Path, *, issued_days_ago: float, expires_in_days: float
) -> tuple[Path, Path, float]:
    """A client certificate and its key in ``directory``; returns (cert, key, not_after)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    not_after = now + dt.timedelta(days=expires_in_days)
    leaf = ca.issue_cert(
        "oversight-agent@bank.example",
        common_name="oversight-agent",
        not_before=now - dt.timedelta(days=issued_days_ago),
        not_after=not_after,
    )
    cert, key = directory / "client.pem", directory / "client.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    ca.cert_pem.write_to_path(str(cert), append=True)  # the chain follows the leaf
    leaf.private_key_pem.write_to_path(str(key))
    return cert, key, not_after.timestamp()


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


async def test_client_certificate(run_probe: RunProbe, ca: trustme.CA, tmp_path: Path) -> None:
    cert, key, not_after = client_cert(ca, tmp_path, issued_days_ago=70, expires_in_days=20)
    result = await run_probe("credential", {"cert_file": str(cert), "key_file": str(key)})
    assert result.success, result.message
    assert result.value(v.CREDENTIAL_EXPIRY) == not_after
    [reading] = result.capacity
    assert (reading.resource, reading.unit) == ("credential:client-cert", "seconds")
    assert reading.limit == pytest.approx(90 * DAY)
    assert reading.used == pytest.approx(70 * DAY, abs=60)
    assert reading.utilisation == pytest.approx(70 / 90, abs=0.001)
    facts = await run_probe(
        "credential",
        {"cert_file": str(cert), "name": "processor-mtls"},
        conditions=[
            "[DAYS_LEFT] > 19.9",
            "[EXPIRES_IN] < 21d",
            "[SUBJECT] contains oversight-agent",
            "[ISSUER] contains Oversight test CA",
            "[UTILISATION.credential:processor-mtls] < 0.8",
        ],
    )
    assert facts.success, facts.message
    assert facts.capacity[0].resource == "credential:processor-mtls"


async def test_an_expired_certificate_fails(
    run_probe: RunProbe, ca: trustme.CA, tmp_path: Path
) -> None:
    cert, _, _ = client_cert(ca, tmp_path, issued_days_ago=30, expires_in_days=-2)
    result = await run_probe("credential", {"cert_file": str(cert)})
    assert result.reason is Reason.THRESHOLD
    assert result.message.startswith("[EXPIRES_IN] (-2d") and result.message.endswith(") > 0s")
    assert result.capacity[0].utilisation == 1.0


async def test_a_key_of_another_certificate_is_a_mismatch(
    run_probe: RunProbe, ca: trustme.CA, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cert, _, _ = client_cert(ca, tmp_path / "a", issued_days_ago=1, expires_in_days=30)
    _, other_key, _ = client_cert(ca, tmp_path / "b", issued_days_ago=1, expires_in_days=30)
    result = await run_probe("credential", {"cert_file": str(cert), "key_file": str(other_key)})
    assert (result.reason, result.message) == (
        Reason.TLS_MISMATCH,
        f"key_file {other_key} does not belong to the certificate",
    )


async def test_unreadable_certificate_files(run_probe: RunProbe, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    result = await run_probe("credential", {"cert_file": str(missing)})
    assert (result.reason, result.message) == (
        Reason.CONNECT_ERROR,
        f"cannot read cert_file {missing}: No such file or directory",
    )
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    result = await run_probe("credential", {"cert_file": str(garbage)})
    assert result.reason is Reason.PROTOCOL_ERROR
    assert result.message.startswith(f"cert_file {garbage} holds no certificate")


async def test_token_with_known_expiry(run_probe: RunProbe, tmp_path: Path) -> None:
    now = time.time()
    token = tmp_path / "token"
    token.write_text(
        jwt(
            {
                "sub": "svc-billpay",
                "iss": "https://idp.example",
                "iat": now - 3600,
                "exp": now + 3 * 3600,
            }
        )
        + "\n"
    )
    result = await run_probe(
        "credential",
        {"token_file": str(token)},
        conditions=["[EXPIRES_IN] > 2h", "[SUBJECT] == svc-billpay", "[ISSUER] contains idp"],
    )
    assert result.success, result.message
    assert result.value(v.CREDENTIAL_EXPIRY) == pytest.approx(now + 3 * 3600)
    [reading] = result.capacity
    assert reading.resource == "credential:token"
    assert reading.limit == pytest.approx(4 * 3600)
    assert reading.utilisation == pytest.approx(0.25, abs=0.01)
    token.write_text(f"Bearer {jwt({'exp': now - 60, 'nbf': now - 120})}")
    expired = await run_probe("credential", {"token_file": str(token)})
    assert expired.reason is Reason.THRESHOLD
    assert expired.message.startswith("[EXPIRES_IN] (-1m")


async def test_a_token_without_exp_never_expires(run_probe: RunProbe, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(jwt({"sub": "forever"}))
    result = await run_probe(
        "credential", {"token_file": str(token)}, conditions=["[DAYS_LEFT] > 365"]
    )
    assert result.success, result.message
    assert result.capacity == ()
    assert result.value(v.CREDENTIAL_EXPIRY) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not a token", "holds not a JWT; cannot read exp"),
        ("a.b.c.d.e", "holds an encrypted JWT (JWE); cannot read exp"),
        ("eyJhbGciOiJub25lIn0.!!!.x", "the JWT payload is unreadable"),
        (jwt({"exp": "tomorrow"}), "exp is not a number of seconds"),
        ("eyJhbGciOiJub25lIn0.WzFd.x", "claims are not a map"),  # payload [1]
    ],
)
async def test_malformed_tokens(
    run_probe: RunProbe, tmp_path: Path, text: str, message: str
) -> None:
    token = tmp_path / "token"
    token.write_text(text)
    result = await run_probe("credential", {"token_file": str(token)})
    assert result.reason is Reason.PROTOCOL_ERROR
    assert message in result.message
    assert str(token) in result.message


@pytest.mark.parametrize(
    ("days_left", "severity"), [(40, None), (20, Severity.WARNING), (3, Severity.CRITICAL)]
)
async def test_credential_expiry_thresholds(
    ca: trustme.CA, tmp_path: Path, days_left: float, severity: Severity | None
) -> None:
    cert, _, _ = client_cert(ca, tmp_path, issued_days_ago=10, expires_in_days=days_left)
    shared = Shared()
    try:
        result = await execute(
            REGISTRY["credential"],
            CredentialProbe(cert_file=str(cert)),
            probe_id="test/credential",
            timeout=5,
            thresholds=(ThresholdRule(SIGNALS["credential_expiry"], 30 * DAY, 7 * DAY),),
            shared=shared,
        )
    finally:
        await shared.close()
    assert result.success
    assert [b.severity for b in result.breaches] == ([severity] if severity else [])
    if severity:
        assert result.breaches[0].signal == "credential_expiry"
        assert result.breaches[0].value == pytest.approx(days_left * DAY, abs=60)
        assert SIGNALS["credential_expiry"].format(days_left * DAY) == f"{days_left}d"


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({}, "give exactly one of cert_file and token_file"),
        ({"cert_file": "a", "token_file": "b"}, "give exactly one of cert_file and token_file"),
        ({"token_file": "b", "key_file": "k"}, "key_file needs cert_file"),
        ({"token_file": "b", "name": "no spaces"}, "String should match pattern"),
    ],
)
def test_config_errors(config: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        CredentialProbe.model_validate(config)
