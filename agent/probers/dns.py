"""DNS: one query to one server over UDP (falling back to TCP on truncation) or TCP."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Literal

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent import vocabulary as v
from agent.conditions.facts import Fact, FactType
from agent.fields import split_host_port
from agent.probers.base import Endpoint, ProbeContext, ProbeFailed, ProberSpec
from agent.probers.net import connect_error
from agent.results import Reason
from agent.vocabulary import Detail

QueryType = Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "SRV", "PTR"]
RESOLV_CONF = "/etc/resolv.conf"


class DnsProbe(BaseModel):
    """Ask ``server`` for ``query_name``/``query_type``; conditions judge the response."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query_name: str = Field(description="the name asked for; an IP address with PTR is reversed")
    query_type: QueryType = "A"
    server: str | None = Field(
        None, description="host, host:port or [v6]:port; default: first resolv.conf nameserver"
    )
    transport: Literal["udp", "tcp"] = "udp"
    recursion_desired: bool = True

    @field_validator("query_name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        try:
            dns.name.from_text(value)
        except dns.exception.DNSException as exc:
            raise ValueError(f"{value!r} is not a DNS name: {exc}") from exc
        return value

    @field_validator("server")
    @classmethod
    def _valid_server(cls, value: str | None) -> str | None:
        if value is not None:
            split_host_port(value, default_port=53)
        return value

    def qname(self) -> dns.name.Name:
        """The name on the wire: ``10.0.0.1`` asked as PTR becomes ``1.0.0.10.in-addr.arpa.``."""
        if self.query_type == "PTR":
            try:
                return dns.reversename.from_address(self.query_name)
            except (ValueError, dns.exception.SyntaxError):
                pass
        return dns.name.from_text(self.query_name)


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


def _endpoint(config: DnsProbe) -> Endpoint | None:
    """The configured server; the system's resolver is not known until a run reads it."""
    if config.server is None:
        return None
    host, port = split_host_port(config.server, default_port=53)
    return Endpoint(host, port)


def _target(config: DnsProbe) -> str:
    return f"dns://{config.server or 'system'}/{config.query_name}/{config.query_type}"


SPEC = ProberSpec(
    kind="dns",
    model=DnsProbe,
    probe=probe,
    facts=(
        Fact("RCODE", FactType.STRING, Reason.ANSWER_MISMATCH, "response code, e.g. NOERROR"),
        Fact("ANSWER", FactType.STRING, Reason.ANSWER_MISMATCH, "answer RRs, one per line"),
        Fact("ANSWER_COUNT", FactType.INT, Reason.ANSWER_MISMATCH, "number of answer RRs"),
    ),
    families=(v.DNS_ANSWER_RRS, v.DNS_AUTHORITY_RRS, v.DNS_ADDITIONAL_RRS, v.DNS_SERIAL),
    default_conditions=("[RCODE] == NOERROR",),
    target=_target,
    endpoint=_endpoint,
    attributes=lambda config: {"dns.question.name": config.query_name},
)
