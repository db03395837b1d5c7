"""The credential kind's run: a certificate's or a JWT's validity read from its file."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from agent.probers.base import ProbeContext, ProbeFailed
from agent.probers.capacity import record
from agent.probers.credential import CredentialProbe
from agent.results import Reason
from agent.vocabulary import CREDENTIAL_EXPIRY, Detail

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Validity:
    """When a credential starts and stops being accepted (unix seconds; None if unsaid)."""

    not_before: float | None
    not_after: float | None
    subject: str
    issuer: str


async def probe(config: CredentialProbe, ctx: ProbeContext) -> None:
    with ctx.phase("read"):
        if config.cert_file is not None:
            validity = await asyncio.to_thread(read_certificate, config.cert_file, config.key_file)
        else:
            assert config.token_file is not None
            validity = await asyncio.to_thread(read_token, config.token_file)
    now = time.time()
    ctx.facts["SUBJECT"], ctx.facts["ISSUER"] = validity.subject, validity.issuer
    ctx.info[Detail.CREDENTIAL_SUBJECT] = validity.subject
    if validity.not_after is None:  # a token without exp never expires
        ctx.facts["EXPIRES_IN"] = ctx.facts["DAYS_LEFT"] = math.inf
        return
    left = validity.not_after - now
    ctx.facts["EXPIRES_IN"] = left
    ctx.facts["DAYS_LEFT"] = round(left / DAY, 2)
    ctx.values[CREDENTIAL_EXPIRY] = validity.not_after
    if validity.not_before is not None and validity.not_after > validity.not_before:
        # Lifetime used: utilisation 0.75 means three quarters of its validity are gone.
        lifetime = validity.not_after - validity.not_before
        record(
            ctx,
            config.resource,
            min(max(now - validity.not_before, 0.0), lifetime),
            lifetime,
            "seconds",
        )


def read_certificate(cert_file: str, key_file: str | None) -> Validity:
    """The validity of a PEM (or DER) certificate file: the earliest expiry in its chain."""
    data = _read(cert_file, "cert_file")
    try:
        if b"-----BEGIN" in data:
            chain = x509.load_pem_x509_certificates(data)
        else:
            chain = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise ProbeFailed(
            Reason.PROTOCOL_ERROR, f"cert_file {cert_file} holds no certificate: {exc}"
        ) from None
    leaf = chain[0]
    earliest = min(chain, key=lambda c: c.not_valid_after_utc)
    if key_file is not None:
        _check_key(leaf, key_file)
    return Validity(
        not_before=earliest.not_valid_before_utc.timestamp(),
        not_after=earliest.not_valid_after_utc.timestamp(),
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
    )


def _check_key(leaf: x509.Certificate, key_file: str) -> None:
    try:
        key = load_pem_private_key(_read(key_file, "key_file"), password=None)
    except (ValueError, TypeError) as exc:  # TypeError: encrypted, and we hold no password
        raise ProbeFailed(
            Reason.TLS_ERROR, f"key_file {key_file} is not a usable private key: {exc}"
        ) from None
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        raise ProbeFailed(
            Reason.TLS_MISMATCH, f"key_file {key_file} does not belong to the certificate"
        )


def read_token(token_file: str) -> Validity:
    """The validity claims of a JWT (JWS compact form) in a file; ``Bearer `` is tolerated."""
    text = _read(token_file, "token_file").decode("utf-8", "replace").strip()
    token = text.removeprefix("Bearer ").strip()
    parts = token.split(".")
    if len(parts) != 3:
        shape = "an encrypted JWT (JWE)" if len(parts) == 5 else "not a JWT"
        raise ProbeFailed(
            Reason.PROTOCOL_ERROR, f"token_file {token_file} holds {shape}; cannot read exp"
        )
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims: Any = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error) as exc:
        raise ProbeFailed(
            Reason.PROTOCOL_ERROR, f"token_file {token_file}: the JWT payload is unreadable: {exc}"
        ) from None
    if not isinstance(claims, dict):
        raise ProbeFailed(Reason.PROTOCOL_ERROR, f"token_file {token_file}: claims are not a map")
    exp = _claim(claims, "exp", token_file)
    return Validity(
        not_before=_claim(claims, "nbf", token_file) or _claim(claims, "iat", token_file),
        not_after=exp,
        subject=str(claims.get("sub", ""))[:128],
        issuer=str(claims.get("iss", ""))[:128],
    )


def _claim(claims: dict[str, Any], name: str, token_file: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProbeFailed(
            Reason.PROTOCOL_ERROR, f"token_file {token_file}: {name} is not a number of seconds"
        )
    return float(value)


def _read(path: str, key: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ProbeFailed(
            Reason.CONNECT_ERROR, f"cannot read {key} {path}: {exc.strerror or exc}"
        ) from None
