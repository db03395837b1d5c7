"""https_required: the endpoints of the given scopes are reached over HTTPS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agent.policies.base import FAIL, PASS, Block, PolicySpec, RunView, Site, combine
from agent.probers.base import Response
from agent.results import Finding

NAME = "https_required"


class HttpsRequired(Block):
    scopes: tuple[Literal["external", "internal"], ...] = ("external",)


@dataclass(frozen=True, slots=True)
class HttpsRequiredPolicy:
    """Decided by the URLs the probe's requests go to: the same verdict every run, reported
    with each (a flow's by the steps whose answers the run judged)."""

    https: bool
    scope: str
    name: str = NAME

    def evaluate(self, run: RunView) -> Finding:
        return combine([(answer, self._judge(answer)) for answer in run.answers()])

    def _judge(self, answer: Response) -> Finding:
        https = self.https if answer.request is None else _https(answer.request.url)
        if https:
            return Finding(NAME, PASS, f"the {self.scope} endpoint is reached over HTTPS")
        return Finding(
            NAME, FAIL, f"the {self.scope} endpoint is reached over plain HTTP", "http://"
        )


def _https(url: str) -> bool:
    return url.lower().startswith("https://")


def _attach(block: HttpsRequired, site: Site) -> int:
    if site.scope not in block.scopes:
        return 0
    count = 0
    for target in site.targets:
        requests = target.spec.all_requests(target.settings)
        if requests:
            https = all(_https(r.url) for r in requests)
            site.attach(target, HttpsRequiredPolicy(https, site.scope))
            count += 1
    return count


def _unattached(block: HttpsRequired, scope: str) -> str:
    if scope not in block.scopes:
        return f"applies to {' and '.join(block.scopes)} integrations; this one is {scope}"
    return "no http probe"


SPEC = PolicySpec(
    name=NAME,
    title="External endpoints are reached over HTTPS",
    remedy="Change the endpoint's address to https:// (ask the partner for their HTTPS endpoint "
    "if they have none); plain HTTP exposes the data to anyone on the path.",
    block=HttpsRequired,
    attach=_attach,
    unattached=_unattached,
)
