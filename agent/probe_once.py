"""``oversight probe``: every probe once, concurrently, as rows for a table or JSON."""

from __future__ import annotations

import asyncio
from typing import Any

from agent.evaluation.state import describe_breach
from agent.plan import Plan
from agent.probers import REGISTRY
from agent.probers.shared import Shared
from agent.redact import Redactor
from agent.runner import execute


async def probe_all(plan: Plan) -> list[dict[str, Any]]:
    """Run each probe of ``plan`` once under the agent's concurrency limit."""
    shared = Shared()
    limit = asyncio.Semaphore(plan.agent.concurrency)
    redactor = Redactor(plan.secrets)

    async def one(probe_id: str) -> dict[str, Any]:
        probe = plan.probes[probe_id]
        async with limit:
            result = await execute(
                REGISTRY[probe.kind],
                probe.settings,
                probe_id=probe.id,
                timeout=probe.timeout,
                conditions=probe.conditions,
                thresholds=probe.thresholds,
                shared=shared,
                policies=probe.policies,
            )
        return {
            "pattern": probe.pattern,
            "integration": probe.integration,
            "probe": probe.name,
            "kind": probe.kind,
            "target": probe.target,
            "success": result.success,
            "reason": result.reason.value if result.reason else None,
            "message": redactor.scrub(result.message),
            "duration_seconds": round(result.duration, 6),
            "breaches": [describe_breach(b) for b in result.breaches],
        }

    try:
        return list(await asyncio.gather(*(one(probe_id) for probe_id in plan.probes)))
    finally:
        await shared.close()


def render_table(rows: list[dict[str, Any]]) -> str:
    """A plain aligned table; failing rows say why."""
    header = ("PATTERN", "INTEGRATION", "PROBE", "KIND", "RESULT", "TIME", "DETAIL")
    lines = [header]
    for row in rows:
        if row["success"]:
            result = "ok" if not row["breaches"] else "degraded"
            detail = ", ".join(row["breaches"]) or row["target"]
        else:
            result, detail = "FAIL", f"{row['reason']}: {row['message']}"
        lines.append(
            (
                row["pattern"],
                row["integration"],
                row["probe"],
                row["kind"],
                result,
                f"{row['duration_seconds'] * 1000:.0f}ms",
                detail,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = []
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True)]
        out.append("  ".join([*cells, line[-1]]).rstrip())
    failed = sum(1 for row in rows if not row["success"])
    out.append(f"\n{len(rows)} probes, {failed} failed")
    return "\n".join(out)
