"""The listener's TLS: exporter-toolkit's ``tls_server_config`` as a Python SSLContext."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}

# Go's tls.CipherSuites() names (what exporter-toolkit accepts) -> OpenSSL's names. TLS 1.3
# suites are not configurable, in Go as in OpenSSL's cipher list: they are accepted and left be.
CIPHER_SUITES: dict[str, str | None] = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
}

# client_auth_type -> Python's verify mode. Go's RequestClientCert and RequireAnyClientCert
# take a certificate without verifying it, which Python's ssl module cannot do.
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")


class TlsFileError(Exception):
    """A file the TLS settings name cannot be used; ``key`` is the setting that names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class ServerTls:
    """The settings as validated; paths as written, relative to ``base``."""

    cert_file: str
    key_file: str
    client_auth_type: str = "NoClientCert"
    client_ca_file: str | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    cipher_suites: Sequence[str] = ()
    prefer_server_cipher_suites: bool = True


def server_context(tls: ServerTls, base: Path) -> ssl.SSLContext:
    """A server context reading every file now; raises TlsFileError for an unusable one."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = VERSIONS[tls.min_version]
    context.maximum_version = VERSIONS[tls.max_version]
    context.set_alpn_protocols(["http/1.1"])  # HTTP/2 is not served; clients fall back
    _read(tls.cert_file, base, "cert_file")
    _read(tls.key_file, base, "key_file")
    try:
        context.load_cert_chain(base / tls.cert_file, base / tls.key_file)
    except (ssl.SSLError, ValueError):
        raise TlsFileError(
            "cert_file",
            f"cert_file {tls.cert_file} and key_file {tls.key_file} are not a PEM "
            "certificate and its private key",
        ) from None
    suites = [name for suite in tls.cipher_suites if (name := CIPHER_SUITES[suite])]
    if suites:
        context.set_ciphers(":".join(suites))
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    context.verify_mode = CLIENT_AUTH[tls.client_auth_type]
    if tls.client_ca_file is not None:
        _read(tls.client_ca_file, base, "client_ca_file")
        try:
            context.load_verify_locations(cafile=base / tls.client_ca_file)
        except (ssl.SSLError, ValueError):
            raise TlsFileError(
                "client_ca_file", f"{tls.client_ca_file} holds no PEM certificate"
            ) from None
    elif context.verify_mode != ssl.CERT_NONE:  # as Go: the system's roots
        context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    return context


def _read(name: str, base: Path, key: str) -> None:
    try:
        (base / name).read_bytes()
    except OSError as exc:
        raise TlsFileError(key, f"cannot read {name}: {exc.strerror or exc}") from None
