"""The status view: patterns -> integrations -> state and latest results, as JSON and a page."""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

from agent import __version__
from agent.evaluation.state import State
from agent.redact import Redactor
from agent.reporting.status_steps import calling_html, flows_calling, result_steps, steps_html
from agent.results import Result
from agent.snapshot import Snapshot


def _result(result: Result | None, redactor: Redactor) -> dict[str, Any] | None:
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
        "steps": result_steps(result, redactor.scrub),
    }


def status_document(snap: Snapshot, redactor: Redactor) -> dict[str, Any]:
    """A JSON-ready document; every free text passes the redactor."""
    patterns: dict[str, Any] = {
        name: {"owner": owner, "integrations": {}}
        for name, owner in snap.plan.pattern_owners.items()
    }
    counts = dict.fromkeys((s.value for s in State), 0)
    for key, integration in snap.plan.integrations.items():
        status = snap.states.get(key)
        state = status.state.value if status else State.UNKNOWN.value
        counts[state] += 1
        probes = {}
        for probe_id in integration.probes:
            probe = snap.plan.probes[probe_id]
            totals = snap.totals.get(probe_id)
            probes[probe.name] = {
                "kind": probe.kind,
                "target": probe.target,
                "interval_seconds": probe.interval,
                "timeout_seconds": probe.timeout,
                "runs": totals.runs if totals else 0,
                "latest": _result(snap.latest.get(probe_id), redactor),
            }
        patterns[integration.pattern]["integrations"][integration.name] = {
            "scope": integration.scope,
            "criticality": integration.criticality,
            "owner": integration.owner,
            "runbook": integration.runbook,
            "depends_on": list(integration.depends_on),
            "state": state,
            "reason": redactor.scrub(status.reason) if status else "",
            "root_cause": status.root_cause if status else None,
            "probes": probes,
            "flows": flows_calling(snap, key, redactor.scrub),
        }
    return {
        "agent": {
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
        },
        "summary": counts,
        "compliance": _compliance(snap, patterns),
        "patterns": patterns,
        "generated": snap.taken,
    }


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


def _compliance(snap: Snapshot, patterns: dict[str, Any]) -> dict[str, Any] | None:
    """Scores (details at /api/v1/compliance); each integration lists its failing policies."""
    view = snap.compliance
    if view is None or not view.enabled:
        return None
    for pattern in patterns.values():
        for integration in pattern["integrations"].values():
            integration["compliance_failing"] = []
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


_COLOURS = {
    "ok": "#1a7f37",
    "degraded": "#b08800",
    "down": "#cf222e",
    "impacted": "#8250df",
    "unknown": "#6e7781",
}


def _shard_html(shard: dict[str, Any] | None) -> str:
    if shard is None:
        return ""
    probes = f"{shard['probes']} probe" + ("" if shard["probes"] == 1 else "s")
    return f" — shard {shard['index']}/{shard['total']} ({probes})"


def render_page(doc: dict[str, Any]) -> str:
    """A small self-refreshing page for people; no scripts, no external assets."""
    e = html.escape
    rows = []
    for pattern, pdata in doc["patterns"].items():
        for name, idata in pdata["integrations"].items():
            colour = _COLOURS.get(idata["state"], "#6e7781")
            probes = []
            for probe_name, pr in idata["probes"].items():
                latest = pr["latest"]
                if latest is None:
                    probes.append(f"{e(probe_name)}: pending")
                elif latest["success"]:
                    probes.append(f"{e(probe_name)}: ok {latest['duration_seconds'] * 1000:.0f} ms")
                else:
                    probes.append(
                        f"{e(probe_name)}: {e(latest['reason'] or '')} "
                        f"<small>{e(latest['message'])}</small>"
                    )
                if latest is not None and latest["steps"]:
                    probes.append(steps_html(latest["steps"]))
            if idata["flows"]:
                probes.append(calling_html(idata["flows"]))
            runbook = f'<a href="{e(idata["runbook"])}">runbook</a>' if idata["runbook"] else ""
            rows.append(
                f"<tr><td>{e(pattern)}</td><td>{e(name)}</td><td>{e(idata['scope'])}</td>"
                f"<td>{e(idata['criticality'])}</td><td>{e(idata['owner'])}</td>"
                f'<td><b style="color:{colour}">{e(idata["state"])}</b> '
                f"<small>{e(idata['reason'])}</small></td>"
                f"<td>{'<br>'.join(probes)}</td><td>{runbook}</td></tr>"
            )
    summary = " · ".join(f"{e(k)}: {v}" for k, v in doc["summary"].items())
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(doc["generated"]))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Oversight</title>
<style>body{{font:14px system-ui,sans-serif;margin:1.5em}}table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}}
small{{color:#57606a}}</style></head><body>
<h1>Oversight</h1><p>{summary} — generated {generated} — agent {e(doc["agent"]["version"])},
ready: {e(str(doc["agent"]["ready"]))}{_shard_html(doc["agent"]["shard"])}</p>
<table><tr><th>pattern</th><th>integration</th><th>scope</th><th>criticality</th><th>owner</th>
<th>state</th><th>probes</th><th></th></tr>
{"".join(rows)}
</table><p><a href="/metrics">/metrics</a> · <a href="/api/v1/status">/api/v1/status</a></p>
</body></html>
"""
