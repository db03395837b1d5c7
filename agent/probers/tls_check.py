"""The tls kind's run: a verifying handshake, a second one when the chain is refused, and the
hostname checked against the leaf (see agent/probers/tls.py for why)."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import ssl
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from agent.fields import split_host_port
from agent.probers.base import ProbeContext, ProbeFailed
from agent.probers.net import open_connection
from agent.probers.tls import TlsProbe
from agent.probers.tlsconf import TlsClientConfig, record_tls
from agent.results import Reason
from agent.vocabulary import Detail

_UNTRUSTED = {2, 18, 19, 20, 21, 24, 27}  # X509_V_ERR_*: the issuer is not a trust anchor
_NOT_YET_VALID, _EXPIRED = 9, 10


async def probe(config: TlsProbe, ctx: ProbeContext) -> None:
    host, port = split_host_port(config.address)
    name = config.server_name or config.tls.server_name or host
    writer, rejected = await _handshake(config, ctx, host, port, name)
    try:
        chain = record_tls(ctx, writer.get_extra_info("ssl_object"))
    finally:
        writer.close()
    hostname_ok = bool(chain) and hostname_matches(chain[0], name)
    ctx.facts["CHAIN_VERIFIED"] = rejected is None
    ctx.facts["HOSTNAME_VERIFIED"] = hostname_ok
    ctx.facts["ISSUER"] = ctx.info.get(Detail.SSL_LEAF_ISSUER, "")
    ctx.facts["SUBJECT"] = ctx.info.get(Detail.SSL_LEAF_SUBJECT, "")
    ctx.facts["SANS"] = ctx.info.get(Detail.SSL_LEAF_SANS, "")
    ctx.facts["CIPHER"] = ctx.info.get(Detail.TLS_CIPHER, "")
    problems = [_rejection(rejected, chain)] if rejected is not None else []
    if not hostname_ok:
        names = ", ".join(n for kind in _names(chain[0]) for n in kind) if chain else "nothing"
        problems.append(f"hostname mismatch: the certificate is for {names}, not {name}")
    if not problems:
        return
    problem = "; ".join(problems)
    if config.tls.insecure_skip_verify:
        ctx.log.debug("tls %s: %s (insecure_skip_verify)", config.address, problem)
        return
    raise ProbeFailed(Reason.TLS_ERROR, problem)


async def _handshake(
    config: TlsProbe, ctx: ProbeContext, host: str, port: int, name: str
) -> tuple[asyncio.StreamWriter, ssl.SSLCertVerificationError | None]:
    """A session with the target, and OpenSSL's reason for rejecting its chain if it did.

    A rejected chain costs a second, unverifying handshake, recorded in a throwaway context:
    the phases reported are those of the handshake a client sees.
    """
    chain_context, plain_context = _contexts(ctx, config.tls)
    try:
        _, writer = await open_connection(
            ctx,
            host,
            port,
            tls=chain_context,
            server_hostname=name,
            ip_protocol=config.ip_protocol,
        )
        return writer, None
    except ProbeFailed as failed:
        if not isinstance(failed.__cause__, ssl.SSLCertVerificationError):
            raise
        rejected = failed.__cause__
    scratch = dataclasses.replace(ctx, phases={}, values={}, info={}, facts={})
    try:
        _, writer = await open_connection(
            scratch,
            host,
            port,
            tls=plain_context,
            server_hostname=name,
            ip_protocol=config.ip_protocol,
        )
    except ProbeFailed:
        if config.tls.insecure_skip_verify:
            raise
        raise ProbeFailed(Reason.TLS_ERROR, _rejection(rejected, [])) from rejected
    return writer, rejected


def _contexts(ctx: ProbeContext, config: TlsClientConfig) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(verifies the chain but not the hostname, verifies nothing), built once per config."""
    strict = config.model_copy(update={"insecure_skip_verify": False})
    cache: dict[TlsClientConfig, ssl.SSLContext] = ctx.shared.resources.setdefault(
        "tls.chain_only_contexts", {}
    )
    chain_context = cache.get(strict)
    if chain_context is None:
        chain_context = cache[strict] = strict.context()
        chain_context.check_hostname = False
    plain = ctx.shared.ssl_context(config.model_copy(update={"insecure_skip_verify": True}))
    return chain_context, plain


def _rejection(error: ssl.SSLCertVerificationError, chain: list[x509.Certificate]) -> str:
    """A message a person can act on, naming the certificate at fault when we have it."""
    code, text = error.verify_code, error.verify_message
    now = datetime.now(UTC)
    if code == _EXPIRED:
        late = [c for c in chain if c.not_valid_after_utc < now]
        if late:
            cert = min(late, key=lambda c: c.not_valid_after_utc)
            when = f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
            return f"certificate expired at {when}: {cert.subject.rfc4514_string()}"
        return f"certificate expired ({text})"
    if code == _NOT_YET_VALID:
        early = [c for c in chain if c.not_valid_before_utc > now]
        if early:
            when = f"{early[0].not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}"
            return f"certificate not valid before {when}: {early[0].subject.rfc4514_string()}"
        return f"certificate not yet valid ({text})"
    if code in _UNTRUSTED:
        issuer = f"; issuer {chain[-1].issuer.rfc4514_string()}" if chain else ""
        return f"untrusted issuer: {text}{issuer}"
    return f"certificate verify failed: {text}"


def _names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the certificate is for; the CN counts only without DNS SANs."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = sans.get_values_for_type(x509.DNSName)
        ips = [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns_names, ips = [], []
    if not dns_names:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        dns_names = [str(cn.value) for cn in cns]
    return dns_names, ips


def hostname_matches(cert: x509.Certificate, name: str) -> bool:
    """Whether ``cert`` is valid for ``name``, as OpenSSL's check with Python's flags decides:
    IP addresses against IP SANs only; names against DNS SANs (the CN when there are none),
    case-insensitive, a wildcard only as the whole leftmost label of a name of 3+ labels."""
    dns_names, ips = _names(cert)
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return any(ipaddress.ip_address(other) == ip for other in ips)
    try:
        host = name.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        return False
    return any(_dns_match(pattern.rstrip(".").lower(), host) for pattern in dns_names)


def _dns_match(pattern: str, host: str) -> bool:
    if "*" not in pattern:
        return pattern == host
    star, _, suffix = pattern.partition(".")
    if star != "*" or "*" in suffix or suffix.count(".") < 1:
        return False
    first, _, rest = host.partition(".")
    return bool(first) and rest == suffix
