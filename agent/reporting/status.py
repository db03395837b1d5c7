"""The status view: patterns -> integrations -> state and latest results, as JSON.

Each probe carries its latest result and a few numbers about its kept runs (``uptime``,
``kept_runs``); the runs themselves are at ``/api/v1/history``. Integrations are made as the
document is written (agent/reporting/stream.py), so a large one never holds the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from agent import __version__
from agent.evaluation.compliance import ComplianceView
from agent.evaluation.state import State
from agent.history import RunHistory
from agent.plan import IntegrationPlan, ProbePlan
from agent.probers import REGISTRY
from agent.redact import Redactor
from agent.reporting.paths import PathHider
from agent.reporting.status_steps import callers_of, flows_calling, result_steps
from agent.reporting.stream import Members
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
    snap: Snapshot,
    redactor: Redactor,
    paths: PathHider | None = None,
    pattern: str | None = None,
) -> dict[str, Any]:
    """A JSON-ready document (of one ``pattern``, or all) whose patterns and integrations are
    made as it is written (``stream.Members``; ``stream.resolved`` makes them plain). Every
    free text passes the redactor, and every path the config names shows by its name
    (``paths``). ``summary`` counts the integrations written before it."""
    counts = dict.fromkeys((s.value for s in State), 0)
    hide = paths.tree if paths is not None else _same
    view = snap.compliance if snap.compliance is not None and snap.compliance.enabled else None
    return {
        "agent": hide(_agent(snap)),
        "patterns": Members(_patterns(snap, redactor, hide, view, counts, pattern)),
        "summary": Members(_later(counts)),
        "compliance": _scores(snap, view),
        "generated": snap.taken,
    }


def _agent(snap: Snapshot) -> dict[str, Any]:
    return {
        "version": __version__,
        "ready": snap.agent.ready,
        "ready_reason": snap.agent.ready_reason,
        "started": snap.agent.started,
        # the share of the config's probes this agent runs; null: all of them
        "shard": _shard(snap),
        "config": {
            "source": Path(snap.plan.source).name,  # the file, not where it sits on disk
            "digest": snap.plan.digest,
            "last_reload_successful": snap.agent.reload_successful,
            "last_reload_success": snap.agent.last_reload_success,
        },
        "history_size": snap.plan.agent.history,
    }


def _patterns(
    snap: Snapshot,
    redactor: Redactor,
    hide: Callable[[Any], Any],
    view: ComplianceView | None,
    counts: dict[str, int],
    only: str | None,
) -> Iterator[tuple[str, Any]]:
    by_pattern: dict[str, list[IntegrationPlan]] = {name: [] for name in snap.plan.pattern_owners}
    for integration in snap.plan.integrations.values():
        by_pattern[integration.pattern].append(integration)
    callers = callers_of(snap.plan)
    for name, owner in snap.plan.pattern_owners.items():
        if only is not None and name != only:
            continue
        members = (
            (i.name, hide(_integration(snap, i, redactor, view, counts, callers)))
            for i in by_pattern[name]
        )
        yield name, {"owner": owner, "integrations": Members(members)}


def _integration(
    snap: Snapshot,
    integration: IntegrationPlan,
    redactor: Redactor,
    view: ComplianceView | None,
    counts: dict[str, int],
    callers: Mapping[str, list[ProbePlan]],
) -> dict[str, Any]:
    key = integration.key
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
    document = {
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
    if view is not None:  # scores here; the checks themselves at /api/v1/compliance
        document["compliance_failing"] = list(view.failing(key))
        document["compliance_score"] = view.score(integration.pattern, integration.name).ratio
    return document


def _later(counts: dict[str, int]) -> Iterator[tuple[str, int]]:
    """The counts as they are when written: after the integrations that fill them."""
    yield from counts.items()


def _same(value: Any) -> Any:
    return value


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


def _shard(snap: Snapshot) -> dict[str, Any] | None:
    shard = snap.plan.shard
    if shard is None:
        return None
    return {
        "index": shard.index,
        "total": shard.total,
        "probes": len(snap.plan.probes),
        "integrations": len(snap.plan.integrations),
    }


def _scores(snap: Snapshot, view: ComplianceView | None) -> dict[str, Any] | None:
    """Scores (details at /api/v1/compliance); each integration lists its failing policies."""
    if view is None:
        return None
    score = view.score()
    return {
        "score": score.ratio,
        "passed": score.passed,
        "failed": score.failed,
        "not_applicable": score.not_applicable,
        "patterns": {name: view.score(name).ratio for name in snap.plan.pattern_owners},
    }
