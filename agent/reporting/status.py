"""The status view: patterns -> integrations -> state and latest results, as JSON.

Small at any size: each probe carries its latest result and a few numbers about its kept runs
(``uptime``, ``kept_runs``); the runs themselves are at ``/api/v1/history``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent import __version__
from agent.evaluation.state import State
from agent.history import RunHistory
from agent.probers import REGISTRY
from agent.redact import Redactor
from agent.reporting.paths import PathHider
from agent.reporting.status_steps import callers_of, flows_calling, result_steps
from agent.results import Result
from agent.snapshot import Snapshot


def result_document(result: Result | None, redactor: Redactor) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "success": result.success,
        "reason": result.reason.value if result.reason else None,
        "message": redactor.scrub(result.message),
        "started": result.started,
        "duration_seconds": round(result.duration, 6),
        "phases": {k: round(v, 6) for k, v in result.phases},
        "values": {family.key: value for family, value in result.values},
        "info": {k: redactor.scrub(v) for k, v in result.info},
        "conditions": [
            {
                "condition": c.text,
                "success": c.success,
                "observed": redactor.scrub(c.observed),
            }
            for c in result.conditions
        ],
        "breaches": [
            {"signal": b.signal, "severity": b.severity.value, "value": b.value, "limit": b.limit}
            for b in result.breaches
        ],
        "attempts": result.attempts,
        "cause": result.cause,
        "trace_id": result.trace_id,
        "steps": result_steps(result, redactor.scrub),
    }


def status_document(
    snap: Snapshot, redactor: Redactor, paths: PathHider | None = None
) -> dict[str, Any]:
    """A JSON-ready document; every free text passes the redactor, and every path the config
    names shows by its name (``paths``)."""
    patterns: dict[str, Any] = {
        name: {"owner": owner, "integrations": {}}
        for name, owner in snap.plan.pattern_owners.items()
    }
    counts = dict.fromkeys((s.value for s in State), 0)
    callers = callers_of(snap.plan)
    for key, integration in snap.plan.integrations.items():
        status = snap.states.get(key)
        state = status.state.value if status else State.UNKNOWN.value
        counts[state] += 1
        probes = {}
        for probe_id in integration.probes:
            probe = snap.plan.probes[probe_id]
            totals = snap.totals.get(probe_id)
            kept = snap.runs.get(probe_id)
            probes[probe.name] = {
                "kind": probe.kind,
                "target": probe.target,
                "interval_seconds": probe.interval,
                "timeout_seconds": probe.timeout,
                "runs": totals.runs if totals else 0,
                "kept_runs": len(kept) if kept is not None else 0,
                "uptime": _ratio(kept.uptime if kept is not None else None),
                "latest": result_document(snap.latest.get(probe_id), redactor),
            }
        patterns[integration.pattern]["integrations"][integration.name] = {
            "scope": integration.scope,
            "criticality": integration.criticality,
            "owner": integration.owner,
            "runbook": integration.runbook,
            "depends_on": list(integration.depends_on),
            "state": state,
            "since": status.since if status else snap.agent.started,
            "reason": redactor.scrub(status.reason) if status else "",
            "root_cause": status.root_cause if status else None,
            "flapping": status.flapping if status else False,
            "changes": status.changes if status else 0,
            "uptime": _ratio(_uptime(snap, integration.probes)),
            "probes": probes,
            "flows": flows_calling(snap, key, redactor.scrub, callers),
        }
    document = {
        "agent": {
            "version": __version__,
            "ready": snap.agent.ready,
            "ready_reason": snap.agent.ready_reason,
            "started": snap.agent.started,
            "config": {
                "source": Path(snap.plan.source).name,  # the file, not where it sits on disk
                "digest": snap.plan.digest,
                "last_reload_successful": snap.agent.reload_successful,
                "last_reload_success": snap.agent.last_reload_success,
            },
            "history_size": snap.plan.agent.history,
        },
        "summary": counts,
        "compliance": _compliance(snap, patterns),
        "patterns": patterns,
        "generated": snap.taken,
    }
    return paths.tree(document) if paths is not None else document


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _uptime(snap: Snapshot, probe_ids: Iterable[str]) -> float | None:
    """The share of an integration's kept runs that passed, counting the probes that say
    whether it answers (not those that measure its neighbourhood) when it has any."""
    kept: list[tuple[RunHistory, bool]] = []
    for probe_id in probe_ids:
        runs = snap.runs.get(probe_id)
        if runs is not None:
            kept.append((runs, REGISTRY[snap.plan.probes[probe_id].kind].availability))
    if any(answers for _, answers in kept):
        kept = [(runs, answers) for runs, answers in kept if answers]
    total = sum(len(runs) for runs, _ in kept)
    return sum(runs.passed for runs, _ in kept) / total if total else None


def _compliance(snap: Snapshot, patterns: dict[str, Any]) -> dict[str, Any] | None:
    """Scores (details at /api/v1/compliance); each integration lists its failing policies."""
    view = snap.compliance
    if view is None or not view.enabled:
        return None
    for pattern_name, pattern in patterns.items():
        for name, integration in pattern["integrations"].items():
            integration["compliance_failing"] = []
            integration["compliance_score"] = view.score(pattern_name, name).ratio
    for check in view.checks:
        integration = patterns[check.pattern]["integrations"].get(check.integration)
        if integration is not None and check.status.value == "fail":
            integration["compliance_failing"].append(check.policy)
    score = view.score()
    return {
        "score": score.ratio,
        "passed": score.passed,
        "failed": score.failed,
        "not_applicable": score.not_applicable,
        "patterns": {name: view.score(name).ratio for name in snap.plan.pattern_owners},
    }
