"""security_headers: responses carry the headers a bank's security standard requires."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.fields import Token
from agent.policies.base import FAIL, NA, PASS, Block, PolicySpec, RunView, Site, combine
from agent.probers.base import Response
from agent.results import Finding

NAME = "security_headers"


class SecurityHeaders(Block):
    headers: tuple[Token, ...] = ("Strict-Transport-Security", "X-Content-Type-Options")


@dataclass(frozen=True, slots=True)
class SecurityHeadersPolicy:
    """``Strict-Transport-Security`` is only required over HTTPS (browsers ignore it on
    plain HTTP, RFC 6797 8.1): each answer is judged by the URL its request went to."""

    headers: tuple[str, ...]
    https: bool
    name: str = NAME

    def evaluate(self, run: RunView) -> Finding:
        return combine([(answer, self._judge(answer)) for answer in run.answers()])

    def _judge(self, answer: Response) -> Finding:
        received = answer.facts.get("HEADER")
        if received is None:
            return Finding(NAME, NA, "no response headers in this run")
        https = self.https if answer.request is None else _https(answer.request.url)
        wanted = [h for h in self.headers if https or h.lower() != "strict-transport-security"]
        if not wanted:
            return Finding(NAME, NA, "only HTTPS-only headers are required; this is HTTP")
        present = {k.lower() for k in _keys(received)}
        missing = [h for h in wanted if h.lower() not in present]
        if missing:
            return Finding(NAME, FAIL, f"missing {', '.join(missing)}", ", ".join(missing))
        return Finding(NAME, PASS, f"sends {', '.join(wanted)}")


def _https(url: str) -> bool:
    return url.lower().startswith("https://")


def _keys(headers: Any) -> list[str]:
    return list(headers.keys()) if hasattr(headers, "keys") else []


def _attach(block: SecurityHeaders, site: Site) -> int:
    if not block.headers:
        return 0
    count = 0
    for target in site.targets:
        requests = target.spec.all_requests(target.settings)
        if requests:
            https = all(_https(r.url) for r in requests)
            site.attach(target, SecurityHeadersPolicy(block.headers, https))
            count += 1
    return count


SPEC = PolicySpec(
    name=NAME,
    title="Responses carry the required security headers",
    remedy="Configure the service (or its gateway) to send the missing headers on every response.",
    block=SecurityHeaders,
    attach=_attach,
    unattached=lambda block, scope: "no http probe",
)
