"""Resolve, connect and start TLS as separate timed phases, mapping failures to reasons."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl

from agent.fields import split_host_port
from agent.probers.base import Endpoint, ProbeContext, ProbeFailed
from agent.results import Reason
from agent.vocabulary import Detail

_FAMILIES = {"auto": socket.AF_UNSPEC, "ip4": socket.AF_INET, "ip6": socket.AF_INET6}


def address_endpoint(address: str, default_port: int | None = None) -> Endpoint:
    """The endpoint of a ``host:port`` setting (checked when the config loaded)."""
    host, port = split_host_port(address, default_port=default_port)
    return Endpoint(host, port)


def connect_error(exc: BaseException) -> ProbeFailed:
    """The reason a socket-level exception stands for."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ProbeFailed(Reason.TLS_ERROR, f"certificate verify failed: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        detail = getattr(exc, "reason", None) or exc  # only OpenSSL-raised errors have it
        return ProbeFailed(Reason.TLS_ERROR, f"TLS handshake failed: {detail}")
    if isinstance(exc, ConnectionRefusedError):
        return ProbeFailed(Reason.CONNECT_REFUSED, "connection refused")
    if isinstance(exc, socket.gaierror):
        return ProbeFailed(Reason.DNS_ERROR, f"cannot resolve: {exc.strerror or exc}")
    if isinstance(exc, asyncio.IncompleteReadError | ConnectionResetError | BrokenPipeError):
        return ProbeFailed(Reason.CONNECT_ERROR, "connection closed by the peer")
    return ProbeFailed(Reason.CONNECT_ERROR, f"{type(exc).__name__}: {exc}")


async def resolve(ctx: ProbeContext, host: str, port: int, ip_protocol: str = "auto") -> list[str]:
    """Addresses for ``host`` in preference order; records the ``resolve`` phase."""
    family = _FAMILIES[ip_protocol]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if family != socket.AF_UNSPEC and (ip.version == 4) != (family == socket.AF_INET):
            raise ProbeFailed(Reason.DNS_ERROR, f"{host} is not an {ip_protocol} address")
        ctx.phases.setdefault("resolve", 0.0)
        return [host]
    with ctx.phase("resolve"):
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, family=family, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise ProbeFailed(Reason.DNS_ERROR, f"cannot resolve {host}: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise ProbeFailed(Reason.DNS_ERROR, f"{host} has no {ip_protocol} address")
    return addresses


async def open_connection(
    ctx: ProbeContext,
    host: str,
    port: int,
    *,
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    ip_protocol: str = "auto",
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a stream through the ``resolve``, ``connect`` and ``tls`` phases.

    Addresses are tried in order until one connects (the overall deadline bounds the tries).
    """
    addresses = await resolve(ctx, host, port, ip_protocol)
    last: ProbeFailed | None = None  # the failure, not the error: that one holds this frame
    with ctx.phase("connect"):
        for address in addresses:
            try:
                reader, writer = await asyncio.open_connection(address, port)
                break
            except OSError as exc:
                last = connect_error(exc)
        else:
            assert last is not None
            raise ProbeFailed(last.reason, last.message)
    ctx.info[Detail.REMOTE_ADDRESS] = address
    if tls is None:
        return reader, writer
    try:
        with ctx.phase("tls"):
            await writer.start_tls(tls, server_hostname=server_hostname)
    except (OSError, ssl.SSLError) as exc:
        writer.close()
        raise _tls_failure(exc) from exc  # the TLS prober reads the verification error
    return reader, writer


def _tls_failure(exc: BaseException) -> ProbeFailed:
    """Made apart from the raising frame, so that no name there holds the raised failure."""
    failed = connect_error(exc)
    if failed.reason is Reason.CONNECT_ERROR:
        # A peer that hangs up on our hello refused the handshake (version, cipher, SNI):
        # asyncio servers drop the connection without flushing their alert.
        return ProbeFailed(Reason.TLS_ERROR, f"TLS handshake failed: {failed.message}")
    return failed
