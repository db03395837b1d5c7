"""TLS: handshake with a target and report its certificate and protocol, valid or not.

The run lives in agent/probers/tls_check.py, loaded on the first one (it needs cryptography).

OpenSSL decides whether the chain is trusted, exactly as every other client of the target
(and our http kind) would: same trust store (including a hashed ``capath`` directory, which
cannot be enumerated from Python), same leniency, same ``verify_message``. The first
handshake verifies the chain but not the hostname; the hostname is then checked here
against the leaf (RFC 6125 rules, as OpenSSL applies them), so both verdicts are always
known separately — OpenSSL alone stops at the first error, and reports a hostname mismatch
before it has looked at expiry. Only when the chain is rejected does a second,
unverifying handshake (within the same deadline) fetch the certificate, so an expired or
untrusted certificate still reports expiry, issuer, subject, SANs, version and cipher.

cryptography's ``x509.verification`` would need one handshake, but it needs the trust
anchors as objects and is stricter than OpenSSL (RFC 5280 profile checks), so this kind
would disagree with the http kind on the same endpoint.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.conditions.facts import Fact, FactType
from agent.fields import HostPort
from agent.probers.base import ProberSpec, lazy
from agent.probers.net import address_endpoint
from agent.probers.tlsconf import TlsClientConfig, TlsFacts
from agent.results import Reason
from agent.vocabulary import TLS_FAMILIES


class TlsProbe(BaseModel):
    """Handshake with ``address``; fails on an untrusted, expired or wrong-host certificate
    unless ``tls.insecure_skip_verify`` (the facts still say what is wrong)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: HostPort
    server_name: str | None = Field(
        None, description="SNI and the name verified; default tls.server_name, else the host"
    )
    tls: TlsClientConfig = TlsClientConfig()
    ip_protocol: Literal["auto", "ip4", "ip6"] = "auto"


def _target(config: TlsProbe) -> str:
    return f"tls://{config.address}"


SPEC = ProberSpec(
    kind="tls",
    model=TlsProbe,
    probe=lazy("agent.probers.tls_check"),
    facts=(
        Fact("HOSTNAME_VERIFIED", FactType.ANY, Reason.TLS_ERROR, "the cert is for the name"),
        Fact("CHAIN_VERIFIED", FactType.ANY, Reason.TLS_ERROR, "the chain is trusted and valid"),
        Fact("ISSUER", FactType.STRING, Reason.TLS_MISMATCH, "leaf issuer, RFC 4514"),
        Fact("SUBJECT", FactType.STRING, Reason.TLS_MISMATCH, "leaf subject, RFC 4514"),
        Fact("SANS", FactType.STRING, Reason.TLS_MISMATCH, "leaf subject alt names, comma-joined"),
        Fact("CIPHER", FactType.STRING, Reason.TLS_MISMATCH, "negotiated cipher suite"),
        *TlsFacts,
    ),
    families=TLS_FAMILIES,
    target=_target,
    signals=("latency", "cert_expiry"),
    tls=lambda _: True,
    endpoint=lambda config: address_endpoint(config.address),
)
