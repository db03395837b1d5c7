"""What a compliance policy is: its config block, how it attaches to probes, how it judges.

A policy is one module with a ``SPEC`` and one line in the registry. Most judge every run of
the probes they attach to (``Policy.evaluate`` over a ``RunView``); window policies judge the
integration's rolling window of runs instead. Compiling happens once per (re)load, through a
``Site``: the integration being planned, seen only as much as a policy needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from agent.probers.base import ProberSpec, Response
from agent.results import Compliance, Finding
from agent.vocabulary import Detail, Family

PASS, FAIL, NA = Compliance.PASS, Compliance.FAIL, Compliance.NOT_APPLICABLE


@dataclass(frozen=True, slots=True)
class RunView:
    """What a policy may read of a finished run (bodies stay in facts, never stored).

    ``responses`` are the answers the run received, each with the request that asked for it:
    one for an http probe (its facts are the run's), one per completed step for a flow.
    Policies that judge answers read them all.
    """

    success: bool
    facts: Mapping[str, Any]
    values: Mapping[Family, float]
    info: Mapping[Detail, str]
    responses: tuple[Response, ...] = ()

    def answers(self) -> tuple[Response, ...]:
        """The responses, or the run's facts as its one answer when none were listed."""
        return self.responses or (Response(None, self.facts),)


def combine(judged: Sequence[tuple[Response, Finding]]) -> Finding:
    """One finding from those of each answer of a run: a failure anywhere wins, then a pass.

    A one-answer run's finding is returned as it is; a flow's reasons are prefixed with the
    step each is about, so the finding says where.
    """
    if len(judged) == 1 and not _step(judged[0][0]):
        return judged[0][1]
    for status in (FAIL, PASS, NA):
        found = [(r, f) for r, f in judged if f.status is status]
        if found:
            first = found[0][1]
            reason = "; ".join(f"{_step(r)}{f.reason}" for r, f in found)
            return Finding(first.policy, status, reason, first.evidence)
    raise ValueError("no answer was judged")


def _step(response: Response) -> str:
    step = response.request.step if response.request is not None else ""
    return f"{step}: " if step else ""


class Policy(Protocol):
    """Judges one finished run of one probe; the texts of its Finding are safe to store."""

    @property
    def name(self) -> str: ...

    def evaluate(self, run: RunView) -> Finding: ...


class Block(BaseModel):
    """A policy's config block. In a pattern's or integration's override only the keys
    written there apply (see ``merge``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    enabled: bool = True


class Target(Protocol):
    """A probe of the integration being compiled, as a policy sees it."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> ProberSpec: ...

    @property
    def settings(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Derived:
    """A probe a policy adds beside one it judges: the same target asked another way.

    It is scheduled and exported like any probe but left out of its integration's state.
    """

    suffix: str  # its name is the parent's plus this
    settings: Any  # of the parent's kind
    condition: str  # when it succeeds
    policy: Policy  # what judges each of its runs
    interval: float | None  # None: the parent's
    note: str  # said after the parent's target, e.g. "no credentials"


class Site(Protocol):
    """One integration being compiled: its probes, and how a policy acts on the plan."""

    @property
    def key(self) -> str: ...  # pattern/integration

    @property
    def scope(self) -> str: ...

    @property
    def targets(self) -> Sequence[Target]: ...

    def named(self, policy: str, names: Sequence[str]) -> list[Target]:
        """The named probes that send HTTP requests; any other name is a config problem."""
        ...

    def attach(self, target: Target, policy: Policy) -> None: ...

    def derive(self, target: Target, derived: Derived) -> bool:
        """Add a probe derived from ``target``; False when its name is taken."""
        ...

    def problem(self, policy: str, key: str | None, message: str) -> None:
        """A config problem at the line where ``policy.key`` was written (the block's when
        ``key`` is None)."""
        ...

    def document(self, source: str) -> Any:
        """A contract document, read once per plan."""
        ...


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """An integration's runs in the rolling window (``fast``: successes within the limit)."""

    runs: int
    successes: int
    fast: int
    span: float

    @property
    def availability(self) -> float | None:
        return self.successes / self.runs if self.runs else None

    @property
    def fast_share(self) -> float | None:
        return self.fast / self.successes if self.successes else None


def _attach_none(block: Any, site: Site) -> int:
    return 0


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """Everything the agent knows about one policy.

    ``attach`` compiles the merged block onto the integration's probes and says how many it
    reached; ``unattached`` says why none could (shown while the policy is not applicable).
    A window policy has ``judge`` instead, over the integration's rolling window;
    ``window_limit`` is the latency the window counts successes against, if this policy
    sets it. ``security`` is the security event kind a failure is, if any.
    """

    name: str
    title: str  # what it asks, in a few words
    remedy: str  # what to do when it fails, for people who are not SREs
    block: type[Block]
    attach: Callable[[Any, Site], int] = _attach_none
    unattached: Callable[[Any, str], str] = lambda block, scope: "no probe can show it"
    judge: Callable[[Any, WindowTotals, float], tuple[Compliance, str]] | None = None
    window_limit: Callable[[Any], float] | None = None
    security: str | None = None

    @property
    def window(self) -> bool:
        return self.judge is not None
