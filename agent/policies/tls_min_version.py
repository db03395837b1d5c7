"""tls_min_version: every TLS session a probe opens uses the policy's version or newer."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.fields import TlsVersionName
from agent.policies.base import FAIL, NA, PASS, Block, PolicySpec, RunView, Site
from agent.results import Finding
from agent.vocabulary import Detail

NAME = "tls_min_version"
_VERSION = re.compile(r"TLS ?v?(\d)\.(\d)", re.IGNORECASE)


class TlsMinVersion(Block):
    min_version: TlsVersionName = "TLS1.2"


def tls_rank(text: str) -> tuple[int, int] | None:
    """``TLS 1.2`` / ``TLSv1.2`` / ``TLS1.2`` -> (1, 2); SSL versions rank below every TLS."""
    match = _VERSION.search(text)
    if match:
        return int(match.group(1)), int(match.group(2))
    return (0, 0) if "SSL" in text.upper() else None


@dataclass(frozen=True, slots=True)
class TlsMinVersionPolicy:
    min_version: str = "TLS1.2"
    name: str = NAME

    def evaluate(self, run: RunView) -> Finding:
        seen = run.info.get(Detail.TLS_VERSION)
        if not seen:
            return Finding(NAME, NA, "no TLS session in this run")
        wanted = self.min_version.replace("TLS", "TLS ")
        rank, floor = tls_rank(seen), tls_rank(self.min_version)
        if rank is None or floor is None:
            return Finding(NAME, NA, f"unknown TLS version {seen!r}")
        if rank < floor:
            return Finding(NAME, FAIL, f"negotiated {seen}, below the policy's {wanted}", seen)
        return Finding(NAME, PASS, f"negotiated {seen} ({wanted} or newer required)", seen)


def _attach(block: TlsMinVersion, site: Site) -> int:
    reached = [t for t in site.targets if t.spec.tls(t.settings)]
    for target in reached:
        site.attach(target, TlsMinVersionPolicy(block.min_version))
    return len(reached)


SPEC = PolicySpec(
    name=NAME,
    title="Connections use a modern TLS version",
    remedy="Turn off the old TLS versions on the endpoint (or ask the partner to) so that only "
    "the policy's minimum version or newer can be negotiated.",
    block=TlsMinVersion,
    attach=_attach,
    unattached=lambda block, scope: "no probe of this integration speaks TLS",
    security="tls_below_policy",
)
