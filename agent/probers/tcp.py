"""TCP: connect, optionally start TLS, optionally send a line and read what comes back."""

from __future__ import annotations

import asyncio
import ssl
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.conditions.facts import Fact, FactType
from agent.fields import HostPort, split_host_port
from agent.probers.base import ProbeContext, ProberSpec
from agent.probers.net import address_endpoint, connect_error, open_connection
from agent.probers.tlsconf import TlsClientConfig, TlsFacts, record_tls
from agent.results import Reason
from agent.vocabulary import TLS_FAMILIES


class TcpProbe(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    address: HostPort
    tls: bool = False
    tls_config: TlsClientConfig = TlsClientConfig()
    send: str | None = Field(None, description="text sent after connecting (\\n is not added)")
    read_bytes: int = Field(4096, ge=1, le=1 << 20, description="bytes read after sending")
    ip_protocol: Literal["auto", "ip4", "ip6"] = "auto"


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
    except (OSError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
        raise connect_error(exc) from exc
    finally:
        writer.close()


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
    families=TLS_FAMILIES,
    target=_target,
    signals=("latency", "cert_expiry"),
    tls=lambda config: config.tls,
    endpoint=lambda config: address_endpoint(config.address),
)
