"""The policies by name: what each checks, and what to do when it fails (for people, not SREs)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    name: str
    title: str  # what it asks, in a few words
    remedy: str  # what to do when it fails
    security: str | None = None  # the security event kind a failure is, if any
    window: bool = False  # judged over the rolling window, not per run


POLICIES: tuple[PolicyInfo, ...] = (
    PolicyInfo(
        "tls_min_version",
        "Connections use a modern TLS version",
        "Turn off the old TLS versions on the endpoint (or ask the partner to) so that only "
        "the policy's minimum version or newer can be negotiated.",
        security="tls_below_policy",
    ),
    PolicyInfo(
        "cert_min_days_left",
        "Certificates are renewed well before they expire",
        "Renew the certificate now and install it on the endpoint (or ask the partner to); "
        "check that automatic renewal is working.",
    ),
    PolicyInfo(
        "https_required",
        "External endpoints are reached over HTTPS",
        "Change the endpoint's address to https:// (ask the partner for their HTTPS endpoint "
        "if they have none); plain HTTP exposes the data to anyone on the path.",
    ),
    PolicyInfo(
        "security_headers",
        "Responses carry the required security headers",
        "Configure the service (or its gateway) to send the missing headers on every response.",
    ),
    PolicyInfo(
        "auth_required",
        "Protected endpoints refuse requests without credentials",
        "Treat as a security incident: the endpoint answers without credentials. Restore "
        "authentication on it (or have the partner do so) and review its access logs.",
        security="auth_not_enforced",
    ),
    PolicyInfo(
        "no_sensitive_data",
        "Responses do not expose card numbers or other sensitive data",
        "Treat as a data leak: stop the endpoint from returning the data (mask or remove it), "
        "find out who received it, and inform the data protection officer.",
        security="sensitive_data",
    ),
    PolicyInfo(
        "api_contract",
        "Partner responses match their published contract",
        "The partner changed its API without notice: tell the partner's contact and the team "
        "that owns the integration before payments or lookups start failing.",
    ),
    PolicyInfo(
        "latency_sla",
        "Answers arrive within the agreed time",
        "Raise it with the owner of the integration (or the partner, under the SLA); look for "
        "what slowed it down in the dashboards.",
        window=True,
    ),
    PolicyInfo(
        "availability_slo",
        "The integration meets its availability objective",
        "Review the outages in the period with the owner; if the partner is at fault, invoke "
        "the service credits of the contract.",
        window=True,
    ),
)

BY_NAME = {p.name: p for p in POLICIES}
NAMES = tuple(BY_NAME)
SECURITY = {p.name: p.security for p in POLICIES if p.security}


def remedy(policy: str) -> str:
    info = BY_NAME.get(policy)
    return info.remedy if info else ""


def title(policy: str) -> str:
    info = BY_NAME.get(policy)
    return info.title if info else policy
