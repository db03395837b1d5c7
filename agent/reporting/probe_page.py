"""The page of one probe at ``/probe/<pattern>/<integration>/<probe>``, from its document
(agent/reporting/probe_debug.py), and the page that says a name is unknown. Every text is
escaped; the document is already scrubbed."""

from __future__ import annotations

from typing import Any

from agent.reporting.assets import asset_url
from agent.reporting.page_text import e, for_how_long, millis, percent, stamp
from agent.reporting.status_page import bars

UP = "../../../"  # from /probe/<pattern>/<integration>/<probe> back to /


def render_probe_page(doc: dict[str, Any]) -> str:
    state = doc["integration_state"]
    latest = doc["latest"]
    facts = {
        "kind": e(doc["kind"]),
        "target": e(doc["target"]),
        "every": f"{doc['interval_seconds']:g}s, timeout {doc['timeout_seconds']:g}s"
        + (f", {doc['retries']} retries" if doc["retries"] else ""),
        "integration": (
            f'<span class="state s-{e(state["state"])}">{e(state["state"])}</span> '
            f"for {for_how_long(doc['generated'] - state['since'])}"
            + (' <span class="flag">flapping</span>' if state["flapping"] else "")
            + (f" · {e(state['reason'])}" if state["reason"] else "")
        ),
        "runs": _totals(doc),
        "uptime": f"{percent(doc['uptime'])} of the last {len(doc['runs'])} runs",
    }
    if doc["derived_from"]:
        facts["derived from"] = e(doc["derived_from"])
    if doc["conditions"]:
        facts["conditions"] = "<br>".join(e(c) for c in doc["conditions"])
    for rule in doc["thresholds"]:
        levels = [f"{k} {e(rule[k])}" for k in ("warning", "critical") if rule[k] is not None]
        facts[f"threshold {e(rule['signal'])}"] = ", ".join(levels)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Oversight: {e(doc["probe"])}</title>
<link rel="stylesheet" href="{asset_url("status.css", UP)}">
</head>
<body>
<p><a href="{UP}">← all integrations</a> · <a href="{UP}api/v1/probes/{e(doc["probe"])}">this
page as JSON</a></p>
<h1>{e(doc["probe"])}</h1>
{_dl(facts)}
<h2>Request</h2>
{_requests(doc["requests"])}
<h2>Last run</h2>
{_latest(latest)}
<h2>Last runs</h2>
<p>{bars(_columns(doc["runs"]), doc["history_size"])}</p>
{_runs(doc["runs"])}
<footer>as of {stamp(doc["generated"])}</footer>
</body></html>
"""


def render_not_found(sentence: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Oversight: not found</title>
<link rel="stylesheet" href="{asset_url("status.css", UP)}">
</head>
<body><h1>Not found</h1><p>{e(sentence)}.</p><p><a href="{UP}">← all integrations</a></p>
</body></html>
"""


def _dl(facts: dict[str, str]) -> str:
    items = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts.items())
    return f'<dl class="facts">{items}</dl>'


def _table(head: tuple[str, ...], rows: list[list[str]], classes: list[str] | None = None) -> str:
    header = "".join(f"<th>{h}</th>" for h in head)
    lines = []
    for i, row in enumerate(rows):
        attribute = f' class="{classes[i]}"' if classes else ""
        lines.append(f"<tr{attribute}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    return f'<div class="scroll"><table><tr>{header}</tr>{"".join(lines)}</table></div>'


def _totals(doc: dict[str, Any]) -> str:
    totals = doc["totals"]
    failures = ", ".join(f"{e(r)} {n}" for r, n in sorted(totals["failures"].items()))
    text = f"{totals['runs']} since the agent started, {totals['successes']} passed"
    return text + (f"; failed: {failures}" if failures else "")


def _requests(requests: list[dict[str, Any]]) -> str:
    if not requests:
        return "<p>This kind sends no HTTP request; its target says where it goes.</p>"
    out = []
    for request in requests:
        step = ""
        if request["step"]:
            called = f" ({e(request['integration'])})" if request["integration"] else ""
            step = f"<b>{e(request['step'])}</b>{called}: "
        shown = request["headers"].items()
        headers = "".join(f"<br>{e(name)}: {e(value)}" for name, value in shown)
        out.append(
            f"<li>{step}<code>{e(request['method'])} {e(request['url'])}{headers}</code></li>"
        )
    return f'<ul class="requests">{"".join(out)}</ul>'


def _latest(latest: dict[str, Any] | None) -> str:
    if latest is None:
        return "<p>No run yet.</p>"
    outcome = (
        '<span class="latest ok">passed</span>'
        if latest["success"]
        else f'<span class="latest fail"><b>{e(latest["reason"] or "")}</b></span> '
        f"{e(latest['message'])}"
    )
    facts = {
        "started": stamp(latest["started"]),
        "took": millis(latest["duration_seconds"]),
        "outcome": outcome,
        "trace id": f"<code>{e(latest['trace_id'])}</code>" if latest["trace_id"] else "none",
    }
    if latest["attempts"] > 1:
        facts["attempts"] = str(latest["attempts"])
    if latest["cause"]:
        facts["blames"] = e(latest["cause"])
    if latest["success"] and latest["message"]:
        facts["message"] = e(latest["message"])
    parts = [_dl(facts)]
    if latest["phases"]:
        phases = [[e(k), millis(v)] for k, v in latest["phases"].items()]
        parts.append("<h3>Phases</h3>" + _table(("phase", "took"), phases))
    if latest["conditions"]:
        parts.append("<h3>Conditions</h3>" + _conditions(latest["conditions"]))
    if latest["breaches_said"]:
        items = "".join(f"<li>{e(b)}</li>" for b in latest["breaches_said"])
        parts.append(f"<h3>Thresholds crossed</h3><ul>{items}</ul>")
    if latest["tls"]:
        tls = {e(k): _fact(k, v) for k, v in latest["tls"].items()}
        parts.append("<h3>TLS</h3>" + _dl(tls))
    values = {e(k): f"{v:g}" for k, v in latest["values"].items() if k not in latest["tls"]}
    values |= {e(k): e(v) for k, v in latest["info"].items() if k not in latest["tls"]}
    if values:
        parts.append("<h3>Observed</h3>" + _dl(values))
    if latest["steps"]:
        parts.append("<h3>Steps</h3>" + _steps(latest["steps"]))
    return "\n".join(parts)


def _fact(key: str, value: Any) -> str:
    if isinstance(value, int | float) and key.endswith(("expiry", "expiry_timestamp_seconds")):
        return stamp(value)
    return e(str(value))


def _conditions(conditions: list[dict[str, Any]]) -> str:
    rows = [
        [e(c["condition"]), "passed" if c["success"] else "failed", e(c["observed"])]
        for c in conditions
    ]
    classes = ["pass" if c["success"] else "fail" for c in conditions]
    return _table(("condition", "result", "observed"), rows, classes)


def _steps(steps: list[dict[str, Any]]) -> str:
    rows = []
    for step in steps:
        said = (
            "passed"
            if step["success"]
            else f"<b>{e(step['reason'] or '')}</b> {e(step['message'])}"
        )
        conditions = "<br>".join(
            f"{'passed' if c['success'] else 'failed'}: {e(c['condition'])} "
            f'<span class="muted">({e(c["observed"])})</span>'
            for c in step["conditions"]
        )
        rows.append(
            [
                e(step["name"]),
                e(step["integration"] or ""),
                said,
                "" if step["status"] is None else str(step["status"]),
                millis(step["duration_seconds"]),
                conditions,
            ]
        )
    return _table(("step", "calls", "result", "status", "took", "conditions"), rows)


def _columns(runs: list[dict[str, Any]]) -> dict[str, list[Any]]:
    oldest_first = list(reversed(runs))
    keys = ("started", "duration_seconds", "success", "reason", "breached")
    return {k: [r[k] for r in oldest_first] for k in keys}


def _runs(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "<p>No run yet.</p>"
    rows = []
    for run in runs:
        if not run["success"]:
            said = f"failed: {e(run['reason'] or '')}"
        else:
            said = "passed over a threshold" if run["breached"] else "passed"
        rows.append([stamp(run["started"]), said, millis(run["duration_seconds"])])
    classes = ["pass" if r["success"] else "fail" for r in runs]
    return _table(("started", "result", "took"), rows, classes)
