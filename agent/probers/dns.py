"""DNS: one query to one server over UDP (falling back to TCP on truncation) or TCP.

The query is made by agent/probers/dns_query.py, loaded on the first run.
"""

from __future__ import annotations

from typing import Literal

import dns.exception
import dns.name
import dns.reversename
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent import vocabulary as v
from agent.conditions.facts import Fact, FactType
from agent.fields import split_host_port
from agent.probers.base import Endpoint, ProberSpec, lazy
from agent.results import Reason

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
    probe=lazy("agent.probers.dns_query"),
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
