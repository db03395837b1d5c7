"""Compile the compliance config into the plan: policies on each probe, auth checks, settings.

Runs inside ``build_plan``. Every integration gets the top-level policies merged with its
pattern's and its own overrides. Each protected endpoint named in ``auth_required.probes``
gets a derived probe, ``<probe>.auth_check``: the same request without credentials (and
without following redirects) that succeeds when refused with 401/403. Derived probes are
scheduled and exported like any probe but are left out of their integration's probes, so a
partner that forgets to check credentials is a compliance failure and a security event, not
an outage.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from yarl import URL

from agent.compliance import catalog
from agent.compliance.config import ComplianceConfig, PolicySet, merge, set_where
from agent.compliance.contract import (
    ApiContractPolicy,
    find_operation,
    load_document,
    schema_validator,
)
from agent.compliance.policies import (
    AuthRequiredPolicy,
    CertMinDaysLeftPolicy,
    HttpsRequiredPolicy,
    NoSensitiveDataPolicy,
    SecurityHeadersPolicy,
    TlsMinVersionPolicy,
)
from agent.conditions.parser import compile_condition
from agent.probers import REGISTRY
from agent.probers.base import Request
from agent.runner import Policy

if TYPE_CHECKING:
    from agent.config import LoadedConfig, Problem
    from agent.plan import IntegrationPlan, ProbePlan

AUTH_SUFFIX = ".auth_check"


@dataclass(frozen=True, slots=True)
class IntegrationCompliance:
    policies: tuple[str, ...]  # the enabled policies, in catalog order
    unattached: Mapping[str, str]  # policy -> why no probe of this integration can show it
    latency_max: float
    latency_share: float
    min_runs: int
    objective: float


@dataclass(frozen=True, slots=True)
class CompliancePlan:
    enabled: bool = False
    window: float = 3600.0
    integrations: Mapping[str, IntegrationCompliance] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )


def compile_compliance(
    loaded: LoadedConfig,
    integrations: Mapping[str, IntegrationPlan],
    probes: Mapping[str, ProbePlan],
    problems: list[Problem],
) -> tuple[dict[str, ProbePlan], CompliancePlan]:
    """Probes with their policies (plus derived auth checks), and the per-integration settings."""
    top: ComplianceConfig = loaded.config.compliance
    out = dict(probes)
    if not top.enabled:
        return out, CompliancePlan(False, top.window)
    documents: dict[str, Any] = {}
    settings: dict[str, IntegrationCompliance] = {}
    for key, integration in integrations.items():
        site = _Site(loaded, integration, problems, out, documents)
        attached: dict[str, int] = dict.fromkeys(catalog.NAMES, 0)
        for probe_id in integration.probes:
            probe = out[probe_id]
            policies = _run_policies(site.merged, probe, integration.scope)
            for policy in policies:
                name = getattr(policy, "name", "")
                attached[name] = attached.get(name, 0) + 1
            out[probe_id] = dataclasses.replace(probe, policies=policies)
        attached["api_contract"] = site.attach_contracts()
        attached["auth_required"] = site.derive_auth_checks()
        settings[key] = _settings(site.merged, integration, attached)
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
        self.path = ("patterns", integration.pattern, "integrations", integration.name)
        self.levels: list[tuple[tuple[str | int, ...], PolicySet | None]] = [
            (("compliance",), config.compliance),
            (("patterns", integration.pattern, "compliance"), pattern.compliance),
            ((*self.path, "compliance"), own.compliance),
        ]
        self.merged = merge(merge(config.compliance, pattern.compliance), own.compliance)
        self.loaded, self.key, self.problems = loaded, integration.key, problems
        self.out, self.documents = out, documents
        self.by_name = {out[p].name: out[p] for p in integration.probes}

    def problem(self, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append(self.loaded.problem(path, message))

    def named(self, policy: str, names: tuple[str, ...]) -> list[ProbePlan]:
        """The named probes of this integration that send one HTTP request; any other name
        is a problem."""
        where = set_where(self.levels, policy, "probes")
        found = []
        for index, name in enumerate(names):
            probe = self.by_name.get(name)
            if probe is not None and _request(probe) is not None:
                found.append(probe)
            elif where is not None:
                what = "is not an http probe" if probe else "is not a probe"
                self.problem((*where, index), f"{name!r} {what} of {self.key}")
        return found

    def attach_contracts(self) -> int:
        """Add an api_contract policy to each probe the contract describes; how many."""
        contract = self.merged.api_contract
        source = contract.json_schema or contract.openapi
        if not contract.enabled or source is None:
            return 0
        if contract.json_schema is not None and not contract.probes:
            where = set_where(self.levels, "api_contract", "json_schema")
            self.problem(
                where or (*self.path, "compliance"),
                "a schema describes one response: name the probes it is for (api_contract.probes)",
            )
            return 0
        http = tuple(n for n, p in self.by_name.items() if _request(p) is not None)
        count = 0
        for probe in self.named("api_contract", contract.probes or http):
            policy = self._contract_policy(contract, source, probe)
            if policy is None:
                if contract.probes:  # named: it must be in the contract
                    where = set_where(self.levels, "api_contract", "probes")
                    request = _request(probe)
                    assert request is not None  # named() keeps only probes that send one
                    method, path = request.method, URL(request.url).path
                    self.problem(
                        where or (*self.path, "compliance", "api_contract"),
                        f"no operation for {method} {path} ({probe.name}) in {source}",
                    )
                continue
            current = self.out[probe.id]
            self.out[probe.id] = dataclasses.replace(current, policies=(*current.policies, policy))
            count += 1
        return count

    def _contract_policy(self, contract: Any, source: str, probe: ProbePlan) -> Policy | None:
        if source not in self.documents:
            self.documents[source] = load_document(source)  # checked as the file loaded
        document = self.documents[source]
        if contract.json_schema is not None:
            return ApiContractPolicy(source, schema=schema_validator(document))
        request = _request(probe)
        if request is None:
            return None
        operation = find_operation(
            document, source, request.method, URL(request.url).path, contract.operation
        )
        return None if operation is None else ApiContractPolicy(source, operation=operation)

    def derive_auth_checks(self) -> int:
        """A ``<probe>.auth_check`` for each protected endpoint; how many."""
        auth = self.merged.auth_required
        if not auth.enabled:
            return 0
        count = 0
        for probe in self.named("auth_required", auth.probes):
            if REGISTRY[probe.kind].anonymous is None:
                continue
            derived = _auth_check(probe, auth.interval)
            if derived.id in self.out:
                self.problem(
                    (*self.path, "probes", derived.name),
                    f"the name {derived.name} is taken by the auth check of {probe.name}",
                )
                continue
            self.out[derived.id] = derived
            count += 1
        return count


def _request(probe: ProbePlan) -> Request | None:
    return REGISTRY[probe.kind].request(probe.settings)


def _run_policies(merged: PolicySet, probe: ProbePlan, scope: str) -> tuple[Policy, ...]:
    policies: list[Policy] = []
    spec = REGISTRY[probe.kind]
    tls = spec.tls(probe.settings)
    if merged.tls_min_version.enabled and tls:
        policies.append(TlsMinVersionPolicy(merged.tls_min_version.min_version))
    if merged.cert_min_days_left.enabled and tls:
        policies.append(CertMinDaysLeftPolicy(merged.cert_min_days_left.days))
    request = spec.request(probe.settings)
    if request is not None:
        https = request.url.lower().startswith("https://")
        if merged.https_required.enabled and scope in merged.https_required.scopes:
            policies.append(HttpsRequiredPolicy(https, scope))
        if merged.security_headers.enabled and merged.security_headers.headers:
            policies.append(SecurityHeadersPolicy(merged.security_headers.headers, https))
    sensitive = merged.no_sensitive_data
    if sensitive.enabled and spec.reads_body:
        policies.append(NoSensitiveDataPolicy(sensitive.compiled(), sensitive.card_numbers))
    return tuple(policies)


def _auth_check(parent: ProbePlan, interval: float | None) -> ProbePlan:
    every = interval or parent.interval
    spec = REGISTRY[parent.kind]
    request = spec.request(parent.settings)
    assert spec.anonymous is not None and request is not None  # checked by the caller
    return dataclasses.replace(
        parent,
        id=parent.id + AUTH_SUFFIX,
        name=parent.name + AUTH_SUFFIX,
        interval=every,
        timeout=min(parent.timeout, every),
        settings=spec.anonymous(parent.settings),
        conditions=(compile_condition("[STATUS] in (401, 403)", spec.fact_table()),),
        thresholds=(),
        target=parent.target + " (no credentials)",
        digest=hashlib.sha256(f"{parent.digest} auth {every}".encode()).hexdigest()[:16],
        policies=(AuthRequiredPolicy(request.method),),
        derived_from=parent.id,
    )


def _settings(
    merged: PolicySet, integration: IntegrationPlan, attached: Mapping[str, int]
) -> IntegrationCompliance:
    enabled = tuple(n for n in catalog.NAMES if getattr(merged, n).enabled)
    why = {
        "tls_min_version": "no probe of this integration speaks TLS",
        "cert_min_days_left": "no probe of this integration sees a certificate",
        "https_required": (
            f"applies to {' and '.join(merged.https_required.scopes)} integrations; "
            f"this one is {integration.scope}"
            if integration.scope not in merged.https_required.scopes
            else "no http probe"
        ),
        "security_headers": "no http probe",
        "auth_required": "no protected endpoint configured (compliance.auth_required.probes)",
        "no_sensitive_data": "no probe of this integration reads a response body",
        "api_contract": (
            f"no probe of this integration calls an operation of {contract}"
            if (contract := merged.api_contract.json_schema or merged.api_contract.openapi)
            else "no contract configured (compliance.api_contract)"
        ),
    }
    unattached = {n: why[n] for n in enabled if n in why and not attached.get(n) and not _window(n)}
    return IntegrationCompliance(
        policies=enabled,
        unattached=MappingProxyType(unattached),
        latency_max=merged.latency_sla.max,
        latency_share=merged.latency_sla.percentile,
        min_runs=merged.availability_slo.min_runs,
        objective=integration.availability_objective,
    )


def _window(policy: str) -> bool:
    return catalog.BY_NAME[policy].window
