"""Client TLS settings shared by the http, tcp and tls kinds, and what a handshake tells us."""

from __future__ import annotations

import hashlib
import ssl
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from agent.conditions.facts import Fact, FactType
from agent.fields import TlsVersionName
from agent.probers.base import ProbeContext
from agent.results import Reason
from agent.vocabulary import SSL_EARLIEST_CERT_EXPIRY, SSL_LAST_CHAIN_EXPIRY, Detail

_VERSIONS = {
    "TLS1.0": ssl.TLSVersion.TLSv1,
    "TLS1.1": ssl.TLSVersion.TLSv1_1,
    "TLS1.2": ssl.TLSVersion.TLSv1_2,
    "TLS1.3": ssl.TLSVersion.TLSv1_3,
}


class TlsClientConfig(BaseModel):
    """How the agent speaks TLS to a target: trust, client certificate, SNI, versions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False
    min_version: TlsVersionName | None = None
    max_version: TlsVersionName | None = None

    @model_validator(mode="after")
    def _files_load(self) -> TlsClientConfig:
        """Read the files now, so a wrong path is a config error naming its line, not a
        failed probe hours later."""
        if self.key_file and not self.cert_file:
            raise ValueError("key_file needs cert_file")
        try:
            self.context()
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot load the TLS files: {exc}") from None
        return self

    def context(self) -> ssl.SSLContext:
        """A new SSLContext for these settings (callers cache it: building one reads files)."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if self.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        if self.min_version:
            ctx.minimum_version = _VERSIONS[self.min_version]
        if self.max_version:
            ctx.maximum_version = _VERSIONS[self.max_version]
        return ctx


TlsFacts = (
    Fact("TLS_VERSION", FactType.STRING, Reason.TLS_MISMATCH, "negotiated version, e.g. TLS 1.3"),
    Fact("CERT_EXPIRY", FactType.DURATION, Reason.THRESHOLD, "time left on the earliest cert"),
)


def peer_chain(ssl_object: Any) -> list[Any]:
    """The peer's chain as cryptography's x509 certificates, leaf first: the verified chain
    when there is one, else as sent. cryptography (8 MiB) is loaded here, on the first TLS
    handshake, not with the agent: a config without TLS does not pay for it."""
    from cryptography import x509

    inner = getattr(ssl_object, "_sslobj", ssl_object)
    for name in ("get_verified_chain", "get_unverified_chain"):
        getter = getattr(inner, name, None)
        chain = getter() if getter else None
        if chain:
            der_format = ssl._ssl.ENCODING_DER  # type: ignore[attr-defined]
            return [x509.load_der_x509_certificate(c.public_bytes(der_format)) for c in chain]
    der = ssl_object.getpeercert(binary_form=True)
    return [x509.load_der_x509_certificate(der)] if der else []


def record_tls(ctx: ProbeContext, ssl_object: Any) -> list[Any]:
    """Record version, cipher and certificate facts of an established TLS session; the chain
    (x509 certificates, leaf first)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    if ssl_object is None:
        return []
    version = ssl_object.version() or ""
    ctx.info[Detail.TLS_VERSION] = version.replace("TLSv", "TLS ")
    ctx.facts["TLS_VERSION"] = ctx.info[Detail.TLS_VERSION]
    cipher = ssl_object.cipher()
    if cipher:
        ctx.info[Detail.TLS_CIPHER] = cipher[0]
    chain = peer_chain(ssl_object)
    if chain:
        earliest = min(c.not_valid_after_utc.timestamp() for c in chain)
        leaf = chain[0]
        ctx.values[SSL_EARLIEST_CERT_EXPIRY] = earliest
        ctx.values[SSL_LAST_CHAIN_EXPIRY] = leaf.not_valid_after_utc.timestamp()
        ctx.facts["CERT_EXPIRY"] = earliest - time.time()
        ctx.info[Detail.SSL_LEAF_SUBJECT] = leaf.subject.rfc4514_string()
        ctx.info[Detail.SSL_LEAF_ISSUER] = leaf.issuer.rfc4514_string()
        ctx.info[Detail.SSL_LEAF_SERIAL] = format(leaf.serial_number, "x")
        ctx.info[Detail.SSL_LEAF_FINGERPRINT] = hashlib.sha256(
            leaf.public_bytes(Encoding.DER)
        ).hexdigest()
        try:
            sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            ctx.info[Detail.SSL_LEAF_SANS] = ",".join(str(n.value) for n in sans)
        except x509.ExtensionNotFound:
            ctx.info[Detail.SSL_LEAF_SANS] = ""
    return chain
