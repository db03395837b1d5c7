"""A small real DNS server on loopback (UDP and TCP on one port) answering from a zone dict."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, cast

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

Mode = Literal["answer", "silent", "truncate", "malformed", "wrong_id", "servfail"]
Zone = dict[str, dict[str, list[str]]]  # name -> type -> rdata texts


@dataclass(frozen=True, slots=True)
class SeenQuery:
    transport: str
    name: str
    type: str
    recursion_desired: bool


@dataclass
class DnsServer:
    """``async with DnsServer(zone) as server:`` then query ``server.address``.

    Modes: ``answer`` answers from the zone (NXDOMAIN for unknown names, NODATA for known
    names without the type, both with the origin's SOA in authority); ``silent`` never
    answers (UDP dropped, TCP read and held); ``truncate`` answers UDP with TC set and no
    records, TCP in full; ``malformed`` sends bytes that are not a DNS message; ``wrong_id``
    answers with another message id; ``servfail`` answers SERVFAIL to everything.
    """

    zone: Zone
    mode: Mode = "answer"
    origin: str = "bank.test."
    host: str = "127.0.0.1"
    ttl: int = 300
    serial: int = 2024010101
    queries: list[SeenQuery] = field(default_factory=list)
    port: int = 0
    _udp: asyncio.DatagramTransport | None = None
    _tcp: asyncio.Server | None = None
    _held: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    async def __aenter__(self) -> DnsServer:
        loop = asyncio.get_running_loop()
        for _ in range(20):  # UDP on port 0, then TCP on the same number; retry on a clash
            transport, _proto = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(self.host, 0)
            )
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, port)
            except OSError:
                transport.close()
                continue
            self._udp, self.port = transport, port
            return self
        raise RuntimeError("no port free for both UDP and TCP")

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._udp is not None:
            self._udp.close()
        for writer in self._held:
            writer.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()

    def respond(self, wire: bytes, transport: str) -> bytes | None:
        """The bytes to send back for a query, or None to stay silent."""
        query = dns.message.from_wire(wire)
        question = query.question[0]
        self.queries.append(
            SeenQuery(
                transport,
                question.name.to_text(),
                dns.rdatatype.to_text(question.rdtype),
                bool(query.flags & dns.flags.RD),
            )
        )
        if self.mode == "silent":
            return None
        if self.mode == "malformed":
            return b"\x00\x01garbage"
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if self.mode == "wrong_id":
            response.id = (query.id + 1) % 65536
        if self.mode == "servfail":
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        if self.mode == "truncate" and transport == "udp":
            response.flags |= dns.flags.TC
            return response.to_wire()
        records = self.zone.get(question.name.to_text().lower())
        rdtype = dns.rdatatype.to_text(question.rdtype)
        if records is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        if records and records.get(rdtype):
            response.answer.append(
                dns.rrset.from_text(question.name, self.ttl, "IN", rdtype, *records[rdtype])
            )
        else:
            soa = f"ns1.{self.origin} hostmaster.{self.origin} {self.serial} 3600 600 86400 60"
            response.authority.append(dns.rrset.from_text(self.origin, self.ttl, "IN", "SOA", soa))
        return response.to_wire()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._held.add(writer)
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                answer = self.respond(await reader.readexactly(length), "tcp")
                if answer is None:
                    continue
                writer.write(struct.pack("!H", len(answer)) + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._held.discard(writer)
            writer.close()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        answer = self.server.respond(data, "udp")
        if answer is not None and self.transport is not None:
            self.transport.sendto(answer, addr)


def closed_port(host: str = "127.0.0.1") -> int:
    """A port number nothing listens on (UDP and TCP), for refused-connection cases."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as udp:
        udp.bind((host, 0))
        return int(udp.getsockname()[1])
