"""The status page at ``/``: patterns and integrations worst first, each with its time in
state, owner, criticality, compliance, uptime and a bar of each probe's last runs.

Rendered here from the status and history documents, so it reads without scripts; then
status.js polls the same two documents and redraws it with the same markup (a change to one
is a change to the other), keeps the times in state ticking and says so when the agent stops
answering. Every text is escaped; the documents are already scrubbed.
"""

from __future__ import annotations

from typing import Any

from agent.reporting.assets import asset_url
from agent.reporting.page_text import (
    STATES,
    clock,
    e,
    for_how_long,
    millis,
    percent,
    state_rank,
    worst_first,
    worst_state,
)


def render_page(doc: dict[str, Any], history: dict[str, Any], refresh: float = 5.0) -> str:
    """The whole page; ``refresh`` is how often status.js polls, in seconds."""
    now = doc["generated"]
    ranked = sorted(
        enumerate(doc["patterns"].items()),
        key=lambda item: (state_rank(_worst(item[1][1])), item[0]),
    )
    sections = "".join(_pattern(name, pattern, doc, history) for _, (name, pattern) in ranked)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(page_title(doc["summary"]))}</title>
<link rel="stylesheet" href="{asset_url("status.css")}">
<script src="{asset_url("status.js")}" defer></script>
</head>
<body data-refresh="{refresh:g}" data-generated="{now}">
<header class="top">
<h1>Oversight</h1>
<p class="agent" id="agent">{_agent(doc)}</p>
<p class="summary" id="summary">{_summary(doc)}</p>
</header>
<div class="stale" id="stale" role="alert" hidden></div>
<main id="patterns">
{sections}</main>
<footer><a href="metrics">metrics</a> · <a href="api/v1/status">status API</a> ·
<a href="api/v1/history">history API</a> · <a href="api/v1/compliance">compliance API</a>
</footer>
</body></html>
"""


def page_title(summary: dict[str, int]) -> str:
    bad = ", ".join(f"{summary[s]} {s}" for s in STATES[:-1] if summary[s])
    return f"Oversight: {bad}" if bad else "Oversight: all ok"


def _worst(pattern: dict[str, Any]) -> str:
    return worst_state([i["state"] for i in pattern["integrations"].values()])


def _agent(doc: dict[str, Any]) -> str:
    agent = doc["agent"]
    if agent["ready"]:
        ready = '<span class="ready yes">ready</span>'
    else:
        ready = (
            '<span class="ready no">not ready</span> '
            f'<span class="muted">({e(agent["ready_reason"])})</span>'
        )
    return (
        f"{ready} · agent {e(agent['version'])}{_shard(agent.get('shard'))} · "
        f"config {e(agent['config']['source'])} · "
        f'updated <time id="updated">{clock(doc["generated"])}</time>'
    )


def _shard(shard: dict[str, Any] | None) -> str:
    """Which share of the config this agent probes (status.js writes it the same way)."""
    if shard is None:
        return ""
    probes = f"{shard['probes']} probe" + ("" if shard["probes"] == 1 else "s")
    return f" · shard {shard['index']}/{shard['total']} ({probes})"


def _summary(doc: dict[str, Any]) -> str:
    counts = " ".join(f'<span class="count s-{s}">{doc["summary"][s]} {s}</span>' for s in STATES)
    compliance = doc["compliance"]
    if compliance is not None:
        counts += f' <span class="count">compliance {percent(compliance["score"])}</span>'
    return counts


def _pattern(name: str, pattern: dict[str, Any], doc: dict[str, Any], history: dict) -> str:
    said = [e(pattern["owner"])]
    if doc["compliance"] is not None:
        said.append(f"compliance {percent(doc['compliance']['patterns'].get(name))}")
    cards = "".join(
        _integration(name, key, data, doc, history)
        for key, data in worst_first(pattern["integrations"])
    )
    return (
        f'<section class="pattern" data-pattern="{e(name)}">\n'
        f'<h2>{e(name)} <span class="muted">{" · ".join(said)}</span></h2>\n{cards}</section>\n'
    )


def _integration(
    pattern: str, name: str, data: dict[str, Any], doc: dict[str, Any], history: dict
) -> str:
    state = data["state"]
    key = f"{pattern}/{name}"
    flag = ' <span class="flag">flapping</span>' if data["flapping"] else ""
    head = (
        f'<div class="head"><span class="state s-{e(state)}">{e(state)}</span> '
        f'<h3>{e(name)}</h3> <span class="since" data-since="{data["since"]}">'
        f"for {for_how_long(doc['generated'] - data['since'])}</span>{flag}</div>\n"
    )
    reason = f'<p class="reason">{e(data["reason"])}</p>\n' if data["reason"] else ""
    meta = [e(data["criticality"]), e(data["scope"]), f"owner {e(data['owner'])}"]
    if data["runbook"]:
        meta.append(f'<a href="{e(data["runbook"])}">runbook</a>')
    if data["root_cause"]:
        meta.append(f"root cause {e(data['root_cause'])}")
    health = [
        f'<span class="uptime" title="share of the kept runs that passed">'
        f"uptime {percent(data['uptime'])}</span>"
    ]
    if doc["compliance"] is not None:
        health.append(_compliance_badge(data))
    probes = "".join(_probe(key, probe, pdata, history) for probe, pdata in data["probes"].items())
    return (
        f'<article class="integration s-{e(state)}" data-key="{e(key)}" data-state="{e(state)}">\n'
        f"{head}{reason}"
        f'<p class="meta">{" · ".join(meta)}</p>\n'
        f'<p class="meta">{" · ".join(health)}</p>\n'
        f'<ul class="probes">{probes}</ul>\n{_calls(data["flows"])}</article>\n'
    )


def _compliance_badge(data: dict[str, Any]) -> str:
    failing = data.get("compliance_failing") or []
    score = data.get("compliance_score")
    kind = "fail" if failing else "pass" if score is not None else "none"
    fails = f": fails {', '.join(e(p) for p in failing)}" if failing else ""
    return f'<span class="badge {kind}">compliance {percent(score)}{fails}</span>'


def _probe(key: str, name: str, data: dict[str, Any], history: dict[str, Any]) -> str:
    probe_id = f"{key}/{name}"
    runs = history["probes"].get(probe_id)
    latest = data["latest"]
    if latest is None:
        said = '<span class="latest pending">pending</span>'
    elif latest["success"]:
        said = f'<span class="latest ok">ok {millis(latest["duration_seconds"])}</span>'
    else:
        said = (
            f'<span class="latest fail"><b>{e(latest["reason"] or "")}</b> '
            f'<span class="msg">{e(latest["message"])}</span></span>'
        )
    steps = _steps(latest["steps"]) if latest is not None and latest["steps"] else ""
    return (
        f'<li class="probe"><div class="line"><a class="name" href="probe/{e(probe_id)}">'
        f"{e(name)}</a> {bars(runs, history['size'])} "
        f'<span class="pup">{percent(data["uptime"])}</span> {said}</div>{steps}</li>'
    )


def bars(runs: dict[str, list[Any]] | None, size: int) -> str:
    """A probe's last runs as a heartbeat bar, oldest on the left, empty slots first."""
    keys = ("started", "duration_seconds", "success", "reason", "breached")
    kept = list(zip(*(runs[k] for k in keys), strict=True)) if runs else []
    cells = ['<span class="bar none"></span>'] * max(0, size - len(kept))
    passed = 0
    for at, took, success, reason, breached in kept:
        if not success:
            kind, word = "fail", f"failed: {reason}"
        elif breached:
            kind, word = "warn", "passed over a threshold"
        else:
            kind, word = "pass", "passed"
        passed += success
        title = f"{clock(at)} · {e(word)} · {millis(took)}"
        cells.append(f'<span class="bar {kind}" title="{title}"></span>')
    label = (
        f"last {len(kept)} runs: {passed} passed, {len(kept) - passed} failed"
        if kept
        else "no runs yet"
    )
    return f'<span class="bars" role="img" aria-label="{label}">{"".join(cells)}</span>'


def _steps(steps: list[dict[str, Any]]) -> str:
    """A flow's last run, one line a step: the integration it called and how it went."""
    items = []
    for step in steps:
        took = millis(step["duration_seconds"])
        if step["success"]:
            said = f"ok {took}"
        else:
            said = (
                f"<b>{e(step['reason'] or '')}</b> {took} "
                f'<span class="msg">{e(step["message"])}</span>'
            )
        called = (
            f' <span class="muted">({e(step["integration"])})</span>' if step["integration"] else ""
        )
        kind = "ok" if step["success"] else "fail"
        items.append(f'<li class="{kind}">{e(step["name"])}{called} {said}</li>')
    return f'<ol class="steps">{"".join(items)}</ol>'


def _calls(flows: list[dict[str, Any]]) -> str:
    """The flows that call this integration, with the outcome of their steps that do."""
    if not flows:
        return ""
    lines = []
    for flow in flows:
        parts = []
        for step in flow["steps"]:
            if not step["ran"]:
                parts.append(f"{e(step['name'])}: not reached")
            elif step["success"]:
                parts.append(f"{e(step['name'])}: ok {millis(step['duration_seconds'])}")
            else:
                parts.append(f"{e(step['name'])}: <b>{e(step['reason'] or '')}</b>")
        lines.append(f"flow {e(flow['probe'])}: {', '.join(parts)}")
    return f'<p class="calls">{"<br>".join(lines)}</p>\n'
