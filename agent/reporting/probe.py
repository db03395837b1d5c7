"""``oversight probe``: every probe once, concurrently, as rows for a table or JSON."""

from __future__ import annotations

from typing import Any

from agent.evaluation.state import describe_breach
from agent.plan import Plan
from agent.redact import Redactor
from agent.runner import run_once


async def probe_all(plan: Plan) -> list[dict[str, Any]]:
    """Rows for ``oversight probe``: each probe once, what it saw, secrets scrubbed."""
    redactor = Redactor(plan.secrets)
    rows = []
    for probe_id, result in (await run_once(plan)).items():
        probe = plan.probes[probe_id]
        rows.append(
            {
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
        )
    return rows


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
