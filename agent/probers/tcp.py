"""TCP: connect, optionally start TLS, optionally send a line and read what comes back."""

from __future__ import annotations

import asyncio
import ssl
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.conditions.facts import Fact, FactType
from agent.probers.base import ProbeContext, ProberSpec
from agent.probers.net import connect_error, open_connection
from agent.probers.tlsconf import TlsClientConfig, TlsFacts, record_tls
from agent.results import Reason


class TcpProbe(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    address: Annotated[str, Field(description="host:port")]
    tls: bool = False
    tls_config: TlsClientConfig = TlsClientConfig()
    send: str | None = Field(None, description="text sent after connecting (\\n is not added)")
    read_bytes: int = Field(4096, ge=1, le=1 << 20, description="bytes read after sending")
    ip_protocol: Annotated[str, Field(pattern="^(auto|ip4|ip6)$")] = "auto"

    @field_validator("address")
    @classmethod
    def _valid_address(cls, value: str) -> str:
        split_host_port(value)  # a config error at load, not an internal_error at run time
        return value


async def probe(config: TcpProbe, ctx: ProbeContext) -> None:
    host, port = split_host_port(config.address)
    tls_context = ctx.shared.ssl_context(config.tls_config) if config.tls else None
    reader, writer = await open_connection(
        ctx,
        host,
        port,
        tls=tls_context,
        server_hostname=config.tls_config.server_name or host,
        ip_protocol=config.ip_protocol,
    )
    try:
        ctx.facts["CONNECTED"] = True
        if tls_context is not None:
            record_tls(ctx, writer.get_extra_info("ssl_object"))
        if config.send is not None:
            with ctx.phase("exchange"):
                writer.write(config.send.encode())
                await writer.drain()
                data = await reader.read(config.read_bytes)
            ctx.facts["BODY"] = data.decode("utf-8", "replace")
            ctx.values["tcp_response_bytes"] = len(data)
    except (OSError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
        raise connect_error(exc) from exc
    finally:
        writer.close()


def split_host_port(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port); a malformed address is a ValueError."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is not host:port")
    return host.strip("[]"), int(port)


def _target(config: TcpProbe) -> str:
    return f"{'tls' if config.tls else 'tcp'}://{config.address}"


SPEC = ProberSpec(
    kind="tcp",
    model=TcpProbe,
    probe=probe,
    facts=(
        Fact("CONNECTED", FactType.ANY, Reason.CONDITION_FAILED, "true once connected"),
        Fact("BODY", FactType.STRING, Reason.BODY_MISMATCH, "what the server sent back"),
        *TlsFacts,
    ),
    target=_target,
    signals=("latency", "cert_expiry"),
)
