"""Compile the compliance config into the plan: each policy attached to the probes it judges.

Runs inside ``build_plan``. Every integration gets the top-level policies merged with its
pattern's and its own overrides; each policy's spec attaches itself through a ``Site`` (this
module's view of the integration being planned) and says why when it reaches no probe.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from agent.conditions.parser import compile_condition
from agent.config import LoadedConfig, Problem
from agent.plan import CompliancePlan, IntegrationCompliance, IntegrationPlan, ProbePlan
from agent.policies import REGISTRY as POLICIES
from agent.policies.base import Derived, Policy, Target
from agent.policies.config import merge, set_where
from agent.policies.documents import load_document
from agent.probers import REGISTRY as KINDS
from agent.probers.base import ProberSpec
from agent.timing import default_timeout

KeyPath = tuple[str | int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class _Target:
    """A planned probe as a policy sees it."""

    probe: ProbePlan

    @property
    def id(self) -> str:
        return self.probe.id

    @property
    def name(self) -> str:
        return self.probe.name

    @property
    def spec(self) -> ProberSpec:
        return KINDS[self.probe.kind]

    @property
    def settings(self) -> Any:
        return self.probe.settings


def compile_compliance(
    loaded: LoadedConfig,
    integrations: Mapping[str, IntegrationPlan],
    probes: Mapping[str, ProbePlan],
    problems: list[Problem],
) -> tuple[dict[str, ProbePlan], CompliancePlan]:
    """Probes with their policies (plus derived checks), and what each integration must meet."""
    top = loaded.config.compliance
    out = dict(probes)
    if not top.enabled:
        return out, CompliancePlan(False, top.window)
    documents: dict[str, Any] = {}
    settings: dict[str, IntegrationCompliance] = {}
    shared: dict[tuple[Any, ...], IntegrationCompliance] = {}
    for key, integration in integrations.items():
        site = _Site(loaded, integration, problems, out, documents)
        blocks, unattached = {}, {}
        for name, spec in POLICIES.items():
            block = site.merged.block(name)
            if not block.enabled:
                continue
            blocks[name] = block
            if not spec.window and not spec.attach(block, site):
                unattached[name] = spec.unattached(block, integration.scope)
        limits = [
            spec.window_limit(blocks[name])
            for name, spec in POLICIES.items()
            if spec.window_limit is not None and name in blocks
        ]
        window_limit = min(limits, default=float("inf"))
        # Integrations that inherit the same blocks share one object: most do, and a reload
        # compares each distinct one once.
        same = (
            tuple((name, id(block)) for name, block in blocks.items()),
            tuple(unattached.items()),
            window_limit,
            integration.availability_objective,
        )
        if same not in shared:
            shared[same] = IntegrationCompliance(
                blocks=MappingProxyType(blocks),
                unattached=MappingProxyType(unattached),
                window_limit=window_limit,
                objective=integration.availability_objective,
            )
        settings[key] = shared[same]
    return out, CompliancePlan(True, top.window, MappingProxyType(settings))


class _Site:
    """One integration being compiled: its merged policies and where each was written."""

    def __init__(
        self,
        loaded: LoadedConfig,
        integration: IntegrationPlan,
        problems: list[Problem],
        out: dict[str, ProbePlan],
        documents: dict[str, Any],
    ) -> None:
        config = loaded.config
        pattern = config.patterns[integration.pattern]
        own = pattern.integrations[integration.name]
        self.path: KeyPath = ("patterns", integration.pattern, "integrations", integration.name)
        self.levels: list[tuple[KeyPath, Any]] = [
            (("compliance",), config.compliance),
            (("patterns", integration.pattern, "compliance"), pattern.compliance),
            ((*self.path, "compliance"), own.compliance),
        ]
        self.merged = merge(merge(config.compliance, pattern.compliance), own.compliance)
        self.key, self.scope = integration.key, integration.scope
        self._loaded, self._problems, self._out, self._documents = loaded, problems, out, documents
        self.targets: Sequence[_Target] = tuple(_Target(out[p]) for p in integration.probes)
        self._by_name = {t.name: t for t in self.targets}

    def problem(self, policy: str, key: str | None, message: str) -> None:
        where = set_where(self.levels, policy, key) or (*self.path, "compliance", policy)
        self._problems.append(self._loaded.problem(where, message))

    def named(self, policy: str, names: Sequence[str]) -> list[Target]:
        found: list[Target] = []
        for index, name in enumerate(names):
            target = self._by_name.get(name)
            if target is not None and target.spec.all_requests(target.settings):
                found.append(target)
                continue
            where = set_where(self.levels, policy, "probes")
            if where is not None:
                what = "is not an http probe" if target else "is not a probe"
                self._problems.append(
                    self._loaded.problem((*where, index), f"{name!r} {what} of {self.key}")
                )
        return found

    def attach(self, target: Any, policy: Policy) -> None:
        probe = self._out[target.id]
        self._out[target.id] = dataclasses.replace(probe, policies=(*probe.policies, policy))

    def derive(self, target: Any, derived: Derived) -> bool:
        parent = self._out[target.id]
        interval = derived.interval or parent.interval
        probe = dataclasses.replace(
            parent,
            id=parent.id + derived.suffix,
            name=parent.name + derived.suffix,
            interval=interval,
            timeout=min(parent.timeout, default_timeout(parent.timeout, interval)),
            settings=derived.settings,
            conditions=(compile_condition(derived.condition, target.spec.fact_table()),),
            thresholds=(),
            target=f"{parent.target} ({derived.note})",
            digest=hashlib.sha256(
                f"{parent.digest} {derived.suffix} {interval}".encode()
            ).hexdigest()[:16],
            policies=(derived.policy,),
            derived_from=parent.id,
        )
        if probe.id in self._out:
            self._problems.append(
                self._loaded.problem(
                    (*self.path, "probes", probe.name),
                    f"the name {probe.name} is taken by the check derived from {parent.name}",
                )
            )
            return False
        self._out[probe.id] = probe
        return True

    def document(self, source: str) -> Any:
        if source not in self._documents:
            self._documents[source] = load_document(source)  # checked as the file loaded
        return self._documents[source]
