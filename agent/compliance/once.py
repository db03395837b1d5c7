"""Compliance from one pass of every probe, for ``oversight report -c CONFIG`` (no agent)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from agent.compliance.evaluate import ComplianceEvaluator, ComplianceView
from agent.probers import REGISTRY
from agent.probers.shared import Shared
from agent.runner import execute

if TYPE_CHECKING:
    from agent.plan import Plan
    from agent.results import Result


async def evaluate_once(plan: Plan) -> ComplianceView:
    """Every probe (auth checks included) once under the agent's concurrency limit.

    latency_sla and availability_slo need more runs than one pass gives, so they come out
    not applicable unless ``availability_slo.min_runs`` is 1.
    """
    shared = Shared()
    limit = asyncio.Semaphore(plan.agent.concurrency)
    latest: dict[str, Result] = {}
    evaluator = ComplianceEvaluator(plan, latest, time.time())

    async def one(probe_id: str) -> None:
        probe = plan.probes[probe_id]
        async with limit:
            latest[probe_id] = await execute(
                REGISTRY[probe.kind],
                probe.settings,
                probe_id=probe.id,
                timeout=probe.timeout,
                conditions=probe.conditions,
                thresholds=probe.thresholds,
                shared=shared,
                policies=probe.policies,
            )

    try:
        await asyncio.gather(*(one(probe_id) for probe_id in plan.probes))
    finally:
        await shared.close()
    for result in latest.values():
        evaluator.observe(result, time.time())
    return evaluator.view()
