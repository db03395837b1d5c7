"""The probe kinds. Adding a kind is one module with a ``SPEC`` and one line here."""

from __future__ import annotations

from agent.probers import (
    command,
    credential,
    dns,
    flow,
    grpc,
    host,
    http,
    process,
    scrape,
    tcp,
    tls,
)
from agent.probers.base import ProberSpec

REGISTRY: dict[str, ProberSpec] = {
    spec.kind: spec
    for spec in (
        http.SPEC,
        tcp.SPEC,
        grpc.SPEC,
        dns.SPEC,
        tls.SPEC,
        host.SPEC,
        process.SPEC,
        scrape.SPEC,
        credential.SPEC,
        flow.SPEC,
        command.SPEC,
    )
}
