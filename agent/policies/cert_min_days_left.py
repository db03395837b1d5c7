"""cert_min_days_left: certificates are renewed well before they expire."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import Field

from agent.policies.base import FAIL, NA, PASS, Block, PolicySpec, RunView, Site
from agent.results import Finding
from agent.vocabulary import SSL_EARLIEST_CERT_EXPIRY

NAME = "cert_min_days_left"


class CertMinDaysLeft(Block):
    days: float = Field(default=14, gt=0, description="days a certificate must still be valid")


@dataclass(frozen=True, slots=True)
class CertMinDaysLeftPolicy:
    days: float = 14.0
    clock: Callable[[], float] = field(default=time.time, compare=False)
    name: str = NAME

    def evaluate(self, run: RunView) -> Finding:
        expiry = run.values.get(SSL_EARLIEST_CERT_EXPIRY)
        if expiry is None:
            return Finding(NAME, NA, "no certificate seen in this run")
        left = (expiry - self.clock()) / 86400
        when = time.strftime("%Y-%m-%d", time.gmtime(expiry))
        if left < 0:
            return Finding(
                NAME, FAIL, f"the certificate expired {-left:.1f} days ago ({when})", when
            )
        if left < self.days:
            return Finding(
                NAME,
                FAIL,
                f"the certificate expires in {left:.1f} days ({when}); "
                f"the policy wants at least {self.days:g}",
                when,
            )
        return Finding(NAME, PASS, f"the certificate is valid for {left:.0f} more days", when)


def _attach(block: CertMinDaysLeft, site: Site) -> int:
    reached = [t for t in site.targets if t.spec.tls(t.settings)]
    for target in reached:
        site.attach(target, CertMinDaysLeftPolicy(block.days))
    return len(reached)


SPEC = PolicySpec(
    name=NAME,
    title="Certificates are renewed well before they expire",
    remedy="Renew the certificate now and install it on the endpoint (or ask the partner to); "
    "check that automatic renewal is working.",
    block=CertMinDaysLeft,
    attach=_attach,
    unattached=lambda block, scope: "no probe of this integration sees a certificate",
)
