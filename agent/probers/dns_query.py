"""The dns kind's run: resolve the server, one query over UDP or TCP, its answer as facts."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from agent import vocabulary as v
from agent.fields import split_host_port
from agent.probers.base import ProbeContext, ProbeFailed
from agent.probers.dns import RESOLV_CONF, DnsProbe
from agent.probers.net import connect_error
from agent.results import Reason
from agent.vocabulary import Detail


def system_nameserver(filename: str = RESOLV_CONF) -> str:
    """The first nameserver of the system resolver's configuration (read on every call, so
    a changed resolv.conf is seen without a restart; it is a few hundred bytes)."""
    try:
        nameservers = dns.resolver.Resolver(filename=filename).nameservers
    except dns.resolver.NoResolverConfiguration as exc:
        raise ProbeFailed(Reason.DNS_ERROR, f"no system nameserver: {exc}") from exc
    return str(nameservers[0])


async def probe(config: DnsProbe, ctx: ProbeContext) -> None:
    host, port = (
        split_host_port(config.server, default_port=53)
        if config.server
        else (system_nameserver(), 53)
    )
    address = await _server_address(host, port)
    ctx.info[Detail.REMOTE_ADDRESS] = address
    query = dns.message.make_query(config.qname(), config.query_type)
    if not config.recursion_desired:
        query.flags &= ~dns.flags.RD
    with ctx.phase("resolve"):
        response, transport = await _exchange(query, address, port, config.transport, ctx)
    ctx.info[Detail.DNS_TRANSPORT] = transport
    answer = [line for rrset in response.answer for line in rrset.to_text().splitlines()]
    ctx.values[v.DNS_ANSWER_RRS] = sum(len(rrset) for rrset in response.answer)
    ctx.values[v.DNS_AUTHORITY_RRS] = sum(len(rrset) for rrset in response.authority)
    ctx.values[v.DNS_ADDITIONAL_RRS] = sum(len(rrset) for rrset in response.additional)
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            ctx.values[v.DNS_SERIAL] = float(rrset[0].serial)
            break
    ctx.facts["RCODE"] = dns.rcode.to_text(response.rcode())
    ctx.facts["ANSWER"] = "\n".join(answer)
    ctx.facts["ANSWER_COUNT"] = len(answer)


async def _server_address(host: str, port: int) -> str:
    """The server as an IP address (dnspython's query functions take addresses only)."""
    try:
        ipaddress.ip_address(host.partition("%")[0])
        return host
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ProbeFailed(Reason.DNS_ERROR, f"cannot resolve DNS server {host}: {exc}") from exc
    return str(infos[0][4][0])


async def _exchange(
    query: dns.message.Message, address: str, port: int, transport: str, ctx: ProbeContext
) -> tuple[dns.message.Message, str]:
    """Send ``query``; map the server's faults to reasons. Returns (response, transport used).

    The UDP socket is connected to the server so that an ICMP port-unreachable arrives as
    ``ConnectionRefusedError`` instead of a silent wait for the deadline.
    """
    try:
        if transport == "udp":
            backend = dns.asyncbackend.get_backend("asyncio")
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = await backend.make_socket(family, socket.SOCK_DGRAM, 0, None, (address, port))
            async with sock:
                try:
                    response = await dns.asyncquery.udp(
                        query,
                        address,
                        ctx.remaining(),
                        port,
                        raise_on_truncation=True,
                        sock=sock,
                    )
                    return response, "udp"
                except dns.message.Truncated:
                    pass
        response = await dns.asyncquery.tcp(query, address, ctx.remaining(), port)
        return response, "tcp"
    except dns.exception.Timeout as exc:
        raise ProbeFailed(Reason.TIMEOUT, f"no answer from {address}:{port}") from exc
    except dns.query.BadResponse as exc:
        raise ProbeFailed(Reason.PROTOCOL_ERROR, "the response does not answer the query") from exc
    except EOFError as exc:
        raise ProbeFailed(Reason.CONNECT_ERROR, "connection closed by the peer") from exc
    except dns.exception.DNSException as exc:
        raise ProbeFailed(Reason.PROTOCOL_ERROR, f"malformed response: {exc}") from exc
    except OSError as exc:
        failed = connect_error(exc)
        raise ProbeFailed(failed.reason, f"{failed.message} ({address} port {port})") from exc
