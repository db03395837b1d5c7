"""The workflow report: each flow over a period, from the bounded history the agent keeps.

One shape for ``GET /api/v1/flows`` and the report's workflow section: runs, success ratio,
the step that fails most, and each step's runs, failures and latency percentiles. A flow that
did not run in the period is listed with its steps and no runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.flow_history import SLOT, FlowHistory, FlowSummary, StepSummary
from agent.plan import Plan
from agent.probers import REGISTRY


def workflow_document(
    plan: Plan, histories: Mapping[str, FlowHistory], *, since: float, until: float
) -> dict[str, Any]:
    flows = []
    for probe in plan.probes.values():
        steps = [r for r in REGISTRY[probe.kind].all_requests(probe.settings) if r.step]
        history = histories.get(probe.id)
        if not steps and history is None:
            continue
        summary = (
            history.summary(since, until)
            if history is not None
            else FlowSummary(0, 0, (), since, until)
        )
        seen = {s.name: s for s in summary.steps}
        rows = [seen.get(r.step) or StepSummary(r.step, r.integration, 0, 0, ()) for r in steps]
        worst = summary.most_failing
        integration = plan.integrations.get(probe.integration_key)
        flows.append(
            {
                "probe": probe.id,
                "pattern": probe.pattern,
                "integration": probe.integration,
                "name": probe.name,
                "owner": integration.owner if integration else "",
                "target": probe.target,
                "from": summary.since,
                "to": summary.until,
                "runs": summary.runs,
                "successes": summary.successes,
                "success_ratio": _round(summary.success_ratio),
                "most_failing_step": (
                    None
                    if worst is None
                    else {
                        "name": worst.name,
                        "integration": worst.integration,
                        "failures": worst.failures,
                    }
                ),
                "steps": [_step(row) for row in rows],
            }
        )
    return {"since": since, "until": until, "slot_seconds": SLOT, "flows": flows}


def _step(step: StepSummary) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": step.name,
        "integration": step.integration,
        "runs": step.runs,
        "failures": step.failures,
    }
    for quantile in ("p50", "p90", "p99"):
        out[f"{quantile}_seconds"] = None
    for q, seconds in step.percentiles:
        out[f"p{round(q * 100)}_seconds"] = round(seconds, 6)
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
