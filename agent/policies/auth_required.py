"""auth_required: a protected endpoint refuses a request that carries no credentials.

Each protected endpoint named in ``probes`` gets a derived probe, ``<probe>.auth_check``: the
same request without credentials (and without following redirects) that succeeds when refused
with 401/403. Derived probes are scheduled and exported like any probe but are left out of
their integration's state, so a partner that forgets to check credentials is a compliance
failure and a security event, not an outage.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from agent.fields import Name, PositiveDuration
from agent.policies.base import FAIL, NA, PASS, Block, Derived, PolicySpec, RunView, Site
from agent.results import Finding

NAME = "auth_required"
SUFFIX = ".auth_check"


class AuthRequired(Block):
    probes: tuple[Name, ...] = Field(
        default=(),
        description="http probes of protected endpoints; each is also sent without credentials",
    )
    interval: PositiveDuration | None = Field(
        default=None, description="default: the probe's interval"
    )


@dataclass(frozen=True, slots=True)
class AuthRequiredPolicy:
    """On a probe derived from a protected endpoint's: the same request, no credentials."""

    method: str
    name: str = NAME

    def evaluate(self, run: RunView) -> Finding:
        status = run.facts.get("STATUS")
        if status is None:
            return Finding(NAME, NA, "no answer to the request without credentials")
        if status in (401, 403):
            return Finding(NAME, PASS, f"refused without credentials ({status})")
        if 200 <= status < 300:
            return Finding(
                NAME,
                FAIL,
                f"a {self.method} without credentials was answered {status}: "
                "authentication is not enforced",
                f"status {status}",
            )
        return Finding(
            NAME,
            NA,
            f"answered {status} without credentials: neither a refusal (401/403) nor served",
        )


def _attach(block: AuthRequired, site: Site) -> int:
    count = 0
    for target in site.named(NAME, block.probes):
        anonymous, request = target.spec.anonymous, target.spec.request(target.settings)
        if anonymous is None or request is None:
            site.problem(NAME, "probes", f"{target.name!r} cannot be sent without credentials")
            continue
        derived = Derived(
            suffix=SUFFIX,
            settings=anonymous(target.settings),
            condition="[STATUS] in (401, 403)",
            policy=AuthRequiredPolicy(request.method),
            interval=block.interval,
            note="no credentials",
        )
        if site.derive(target, derived):
            count += 1
    return count


SPEC = PolicySpec(
    name=NAME,
    title="Protected endpoints refuse requests without credentials",
    remedy="Treat as a security incident: the endpoint answers without credentials. Restore "
    "authentication on it (or have the partner do so) and review its access logs.",
    block=AuthRequired,
    attach=_attach,
    unattached=lambda block, scope: (
        "no protected endpoint configured (compliance.auth_required.probes)"
    ),
    security="auth_not_enforced",
)
