"""One probe, for debugging: what it sends, what its last run saw, and its last runs.

``/api/v1/probes/<pattern>/<integration>/<probe>`` and the page at ``/probe/...`` (as
blackbox_exporter's ``debug=true``, but for runs already made): the request as configured
with every secret masked, the last run's phases, conditions with what was observed,
breaches, TLS facts, trace id and a flow's steps, and the kept runs newest first.
"""

from __future__ import annotations

from typing import Any

from agent.evaluation.state import State, describe_breach
from agent.probers import REGISTRY
from agent.redact import Redactor, redact_url
from agent.reporting.history import rows
from agent.reporting.paths import PathHider
from agent.reporting.status import result_document
from agent.results import Result
from agent.snapshot import Snapshot
from agent.vocabulary import TLS_FAMILIES

_TLS_DETAILS = frozenset(d for family in TLS_FAMILIES for d in family.details)
_TLS_VALUES = frozenset(family for family in TLS_FAMILIES if family.key)


def probe_document(
    snap: Snapshot, probe_id: str, redactor: Redactor, paths: PathHider | None = None
) -> dict[str, Any]:
    """Everything the agent knows of one probe (``probe_id`` must be in the plan)."""
    probe = snap.plan.probes[probe_id]
    scrub = redactor.scrub
    status = snap.states.get(probe.integration_key)
    totals = snap.totals.get(probe_id)
    runs = snap.runs.get(probe_id)
    latest = snap.latest.get(probe_id)
    last = result_document(latest, redactor)
    if last is not None and latest is not None:
        last["breaches_said"] = [scrub(describe_breach(b)) for b in latest.breaches]
        last["tls"] = _tls(latest, scrub)
    document = {
        "probe": probe_id,
        "pattern": probe.pattern,
        "integration": probe.integration,
        "name": probe.name,
        "kind": probe.kind,
        "scope": probe.scope,
        "target": probe.target,
        "interval_seconds": probe.interval,
        "timeout_seconds": probe.timeout,
        "retries": probe.retries,
        "derived_from": probe.derived_from,
        "conditions": [c.text for c in probe.conditions],
        "thresholds": [
            {
                "signal": rule.signal.name,
                "warning": _level(rule.signal, rule.warning),
                "critical": _level(rule.signal, rule.critical),
            }
            for rule in probe.thresholds
        ],
        "requests": [
            {
                "step": request.step or None,
                "integration": request.integration,
                "method": request.method,
                "url": scrub(redact_url(request.url)),
                "headers": {name: scrub(value) for name, value in request.headers},
            }
            for request in REGISTRY[probe.kind].all_requests(probe.settings)
        ],
        "integration_state": {
            "state": status.state.value if status else State.UNKNOWN.value,
            "since": status.since if status else snap.agent.started,
            "reason": scrub(status.reason) if status else "",
            "root_cause": status.root_cause if status else None,
            "flapping": status.flapping if status else False,
        },
        "totals": {
            "runs": totals.runs if totals else 0,
            "successes": totals.successes if totals else 0,
            "failures": {r.value: n for r, n in totals.failures.items()} if totals else {},
        },
        "uptime": runs.uptime if runs is not None else None,
        "history_size": snap.plan.agent.history,
        "latest": last,
        "runs": rows(runs),
        "generated": snap.taken,
    }
    return paths.tree(document) if paths is not None else document


def _level(signal: Any, value: float | None) -> str | None:
    return None if value is None else signal.format(value)


def _tls(result: Result, scrub: Any) -> dict[str, Any]:
    """The TLS facts of a run: version, cipher, the leaf's names and serial, expiries."""
    facts: dict[str, Any] = {d.value: scrub(v) for d, v in result.info if d in _TLS_DETAILS}
    facts |= {f.key: v for f, v in result.values if f in _TLS_VALUES}
    return facts
