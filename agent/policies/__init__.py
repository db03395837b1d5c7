"""The compliance policies. Adding one is a module with a ``SPEC`` and one line here."""

from __future__ import annotations

from agent.policies import (
    api_contract,
    auth_required,
    availability_slo,
    cert_min_days_left,
    https_required,
    latency_sla,
    no_sensitive_data,
    security_headers,
    tls_min_version,
)
from agent.policies.base import PolicySpec

REGISTRY: dict[str, PolicySpec] = {
    spec.name: spec
    for spec in (
        tls_min_version.SPEC,
        cert_min_days_left.SPEC,
        https_required.SPEC,
        security_headers.SPEC,
        auth_required.SPEC,
        no_sensitive_data.SPEC,
        api_contract.SPEC,
        latency_sla.SPEC,
        availability_slo.SPEC,
    )
}
SECURITY = {name: spec.security for name, spec in REGISTRY.items() if spec.security}


def title(policy: str) -> str:
    spec = REGISTRY.get(policy)
    return spec.title if spec else policy


def remedy(policy: str) -> str:
    spec = REGISTRY.get(policy)
    return spec.remedy if spec else ""
