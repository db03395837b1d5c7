"""Compliance from one pass of every probe, for ``oversight report -c CONFIG`` (no agent)."""

from __future__ import annotations

import time

from agent.evaluation.compliance import ComplianceEvaluator, ComplianceView
from agent.plan import Plan
from agent.results import Result
from agent.runner import run_once


async def evaluate_once(plan: Plan) -> ComplianceView:
    """Every probe (auth checks included) once under the agent's concurrency limit.

    latency_sla and availability_slo need more runs than one pass gives, so they come out
    not applicable unless ``availability_slo.min_runs`` is 1.
    """
    view, _ = await run_and_evaluate(plan)
    return view


async def run_and_evaluate(plan: Plan) -> tuple[ComplianceView, dict[str, Result]]:
    """``evaluate_once``, and the results it judged (the workflow report reads them)."""
    latest: dict[str, Result] = {}
    evaluator = ComplianceEvaluator(plan, latest, time.time())
    for result in (await run_once(plan)).values():
        latest[result.probe_id] = result
        evaluator.observe(result, time.time())
    return evaluator.view(), latest
