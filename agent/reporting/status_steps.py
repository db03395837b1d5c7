"""The steps of a multi-step run (a flow) in the status view, and the flows each integration is in.

A flow that runs across three patterns shows in all three: its own integration lists its
steps under the probe, and every integration a step calls lists the flows that call it, with
those steps' last outcome. Captured values show only when public; every text is scrubbed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agent.plan import Plan, ProbePlan
from agent.probers import REGISTRY
from agent.redact import MASK
from agent.results import Result, StepResult
from agent.snapshot import Snapshot

Scrub = Callable[[str], str]


def step_document(step: StepResult, scrub: Scrub) -> dict[str, Any]:
    return {
        "name": step.name,
        "integration": step.integration,
        "success": step.success,
        "reason": step.reason.value if step.reason else None,
        "message": scrub(step.message),
        "started_seconds": round(step.started, 6),
        "duration_seconds": round(step.duration, 6),
        "status": step.status,
        "requests": step.requests,
        "conditions": [
            {"condition": c.text, "success": c.success, "observed": scrub(c.observed)}
            for c in step.conditions
        ],
        "captured": {
            name: MASK if value is None else scrub(value) for name, value in step.captured
        },
    }


def callers_of(plan: Plan) -> dict[str, list[ProbePlan]]:
    """Integration -> the probes of other integrations that call it, from each integration's
    ``calls`` (known at planning): one pass, so a status document stays linear in size."""
    index: dict[str, list[ProbePlan]] = {}
    for integration in plan.integrations.values():
        for called in integration.calls:
            index.setdefault(called, []).extend(plan.probes[p] for p in integration.probes)
    return index


def flows_calling(
    snap: Snapshot, key: str, scrub: Scrub, callers: Mapping[str, list[ProbePlan]] | None = None
) -> list[dict[str, Any]]:
    """The probes of other integrations whose steps call ``key``: those steps, each with its
    last outcome (``ran`` false when the last run stopped before it). ``callers`` is
    ``callers_of(snap.plan)``, made once for a whole document."""
    out = []
    if callers is None:
        callers = callers_of(snap.plan)
    for probe in callers.get(key, ()):
        requests = REGISTRY[probe.kind].all_requests(probe.settings)
        mine = [r.step for r in requests if r.integration == key]
        if not mine:
            continue
        latest = snap.latest.get(probe.id)
        ran = {s.name: s for s in latest.steps} if latest is not None else {}
        steps = []
        for name in mine:
            step = ran.get(name)
            entry: dict[str, Any] = {"name": name, "ran": step is not None}
            if step is not None:
                entry |= {
                    "success": step.success,
                    "duration_seconds": round(step.duration, 6),
                    "reason": step.reason.value if step.reason else None,
                    "message": scrub(step.message),
                }
            steps.append(entry)
        out.append(
            {
                "probe": probe.id,
                "pattern": probe.pattern,
                "integration": probe.integration,
                "success": latest.success if latest is not None else None,
                "steps": steps,
            }
        )
    return out


def result_steps(result: Result, scrub: Scrub) -> list[dict[str, Any]]:
    return [step_document(step, scrub) for step in result.steps]
