"""``GET /api/v1/history``: each probe's kept runs, column by column, kept out of the status
document so that it stays small; ``pattern``, ``integration`` and ``probe`` narrow it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.history import RunHistory
from agent.plan import Plan
from agent.reporting.stream import Members
from agent.snapshot import Snapshot


def unknown_name(
    plan: Plan, pattern: str | None, integration: str | None = None, probe: str | None = None
) -> str | None:
    """A sentence saying which of the names the plan does not know, or None when it knows
    them all (each given with those before it)."""
    if pattern is None:
        return None
    if pattern not in plan.pattern_owners:
        return f"there is no pattern {pattern!r}"
    if integration is None:
        return None
    if f"{pattern}/{integration}" not in plan.integrations:
        return f"pattern {pattern!r} has no integration {integration!r}"
    if probe is None or f"{pattern}/{integration}/{probe}" in plan.probes:
        return None
    return f"integration {pattern}/{integration} has no probe {probe!r}"


def history_document(
    snap: Snapshot,
    pattern: str | None = None,
    integration: str | None = None,
    probe: str | None = None,
) -> dict[str, Any]:
    """The kept runs of every probe (of a pattern, an integration, one probe), oldest first,
    as columns: ``started`` (unix seconds), ``duration_seconds``, ``success``, ``reason``
    (why it failed) and ``breached`` (passed over a threshold). The probes are made as the
    document is written (``stream.Members``)."""

    def probes() -> Iterator[tuple[str, Any]]:
        for probe_id, plan in snap.plan.probes.items():
            if pattern is not None and plan.pattern != pattern:
                continue
            if integration is not None and plan.integration != integration:
                continue
            if probe is not None and plan.name != probe:
                continue
            yield probe_id, columns(snap.runs.get(probe_id))

    return {"size": snap.plan.agent.history, "generated": snap.taken, "probes": Members(probes())}


def columns(runs: RunHistory | None) -> dict[str, list[Any]]:
    if runs is None:
        return {k: [] for k in ("started", "duration_seconds", "success", "reason", "breached")}
    started, durations, success, reason, breached = runs.columns()
    return {
        "started": started,
        "duration_seconds": [round(d, 6) for d in durations],
        "success": success,
        "reason": reason,
        "breached": breached,
    }


def rows(runs: RunHistory | None) -> list[dict[str, Any]]:
    """The same runs one object each, newest first (one probe's page reads them so)."""
    kept = list(runs) if runs is not None else []
    return [
        {
            "started": r.started,
            "duration_seconds": round(r.duration, 6),
            "success": r.success,
            "reason": r.reason.value if r.reason else None,
            "breached": r.breached,
        }
        for r in reversed(kept)
    ]
