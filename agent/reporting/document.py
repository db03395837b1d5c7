"""The compliance document: patterns -> integrations -> policies, with scores and remedies.

One shape for ``/api/v1/compliance``, ``oversight report`` and the status API's summary, so
what an auditor reads is exactly what the agent serves. Every free text passes ``scrub``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.evaluation.compliance import Check, ComplianceView, Score
from agent.plan import Plan
from agent.policies import REGISTRY, SECURITY, remedy, title
from agent.redact import mask_cards


def score_fields(score: Score) -> dict[str, Any]:
    ratio = score.ratio
    return {
        "score": None if ratio is None else round(ratio, 4),
        "passed": score.passed,
        "failed": score.failed,
        "not_applicable": score.not_applicable,
    }


def compliance_document(
    view: ComplianceView, plan: Plan, *, generated: float, scrub: Callable[[str], str] = str
) -> dict[str, Any]:
    def clean(text: str) -> str:
        return mask_cards(scrub(text))

    patterns: dict[str, Any] = {}
    failing: list[dict[str, Any]] = []
    for name, owner in plan.pattern_owners.items():
        patterns[name] = {"owner": owner, **score_fields(view.score(name)), "integrations": {}}
    by_integration: dict[str, list[Check]] = {}
    for check in view.checks:
        by_integration.setdefault(check.key, []).append(check)
    for key, integration in plan.integrations.items():
        checks = by_integration.get(key, [])
        entries: dict[str, Any] = {}
        for check in checks:
            entry: dict[str, Any] = {
                "status": check.status.value,
                "title": title(check.policy),
                "reason": clean(check.reason),
                "evidence": clean(check.evidence),
                "probes": list(check.probes),
            }
            if check.status.value == "fail":
                entry["what_to_do"] = remedy(check.policy)
                failing.append(
                    {
                        "pattern": integration.pattern,
                        "integration": integration.name,
                        "policy": check.policy,
                        "title": entry["title"],
                        "reason": entry["reason"],
                        "evidence": entry["evidence"],
                        "what_to_do": entry["what_to_do"],
                        "owner": integration.owner,
                        "runbook": integration.runbook,
                        "security": SECURITY.get(check.policy),
                    }
                )
            entries[check.policy] = entry
        patterns[integration.pattern]["integrations"][integration.name] = {
            "scope": integration.scope,
            "criticality": integration.criticality,
            "owner": integration.owner,
            "runbook": integration.runbook,
            **score_fields(view.score(integration.pattern, integration.name)),
            "checks": entries,
        }
    return {
        "generated": generated,
        "enabled": view.enabled,
        "window_seconds": view.window,
        "overall": score_fields(view.score()),
        "patterns": patterns,
        "failing": failing,
        "policies": [
            {"name": p.name, "title": p.title, "what_to_do": p.remedy} for p in REGISTRY.values()
        ],
    }


def summary(document: dict[str, Any]) -> dict[str, Any]:
    """The overall and per-pattern scores, for the status document."""
    return {
        **document["overall"],
        "patterns": {
            name: {k: v for k, v in p.items() if k != "integrations"}
            for name, p in document["patterns"].items()
        },
        "failing": len(document["failing"]),
    }
