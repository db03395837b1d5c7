"""The report as one standalone HTML page for auditors: inline CSS and SVG, no scripts."""

from __future__ import annotations

import html
from typing import Any

from agent.reporting import render_workflows
from agent.reporting.events import describe_event
from agent.reporting.render_text import score_text, when

_BADGES = {"pass": ("Pass", "pass"), "fail": ("Fail", "fail"), "not_applicable": ("N/A", "na")}
_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
margin:0 auto;max-width:1100px;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;border-bottom:2px solid
#d0d7de;padding-bottom:4px}h3{font-size:17px;margin:22px 0 6px}h4{font-size:15px;margin:14px 0 4px}
.meta,.muted{color:#57606a}.summary{display:flex;gap:24px;align-items:center;flex-wrap:wrap}
.big{font-size:44px;font-weight:700}.counts span{display:inline-block;margin-right:14px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}
th,td{border-bottom:1px solid #d8dee4;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:13px;font-weight:600}
.pass{background:#dafbe1;color:#116329}.fail{background:#ffebe9;color:#a40e26}
.na{background:#eaeef2;color:#57606a}.sec{background:#a40e26;color:#fff}
.item{border:1px solid #d0d7de;border-left:5px solid #cf222e;border-radius:6px;
padding:10px 14px;margin:10px 0}.item p{margin:4px 0}.todo{background:#fff8c5;padding:6px 8px;
border-radius:4px}code{background:#f6f8fa;padding:0 4px;border-radius:3px;font-size:13px}
footer{margin-top:36px;font-size:13px;color:#57606a}.when{white-space:nowrap}
@media print{body{max-width:none;padding:0}.item{break-inside:avoid}}
"""


def _e(text: object) -> str:
    return html.escape(str(text if text is not None else ""))


def _colour(score: float | None) -> str:
    if score is None:
        return "#8c959f"
    return "#1a7f37" if score >= 0.9 else "#bf8700" if score >= 0.7 else "#cf222e"


def chart(doc: dict[str, Any]) -> str:
    """Horizontal bars: overall, then each pattern; 0-100%."""
    rows = [("Overall", doc["overall"]), *doc["patterns"].items()]
    label_w, bar_w, row_h = 150, 420, 30
    height = row_h * len(rows) + 24
    parts = [
        f'<svg role="img" aria-label="Compliance scores" width="{label_w + bar_w + 70}" '
        f'height="{height}" viewBox="0 0 {label_w + bar_w + 70} {height}" '
        'xmlns="http://www.w3.org/2000/svg" font-family="system-ui,sans-serif" font-size="13">'
    ]
    for pct in (0, 25, 50, 75, 100):
        x = label_w + bar_w * pct / 100
        parts.append(
            f'<line x1="{x:.0f}" y1="0" x2="{x:.0f}" y2="{height - 18}" stroke="#d0d7de" '
            f'stroke-dasharray="{"" if pct in (0, 100) else "3,3"}"/>'
            f'<text x="{x:.0f}" y="{height - 4}" text-anchor="middle" fill="#57606a">{pct}%</text>'
        )
    for index, (name, block) in enumerate(rows):
        y = index * row_h + 6
        score = block.get("score")
        width = 0 if score is None else bar_w * score
        weight = ' font-weight="700"' if index == 0 else ""
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end"{weight}>{_e(name)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="20" rx="3" '
            f'fill="{_colour(score)}"/>'
            f'<text x="{label_w + width + 6:.1f}" y="{y + 15}"{weight}>{score_text(block)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _badge(status: str) -> str:
    word, css = _BADGES.get(status, (status, "na"))
    return f'<span class="badge {css}">{_e(word)}</span>'


def _attention(doc: dict[str, Any]) -> str:
    failing = doc["failing"]
    if not failing:
        return "<p>Nothing: every applicable check passes.</p>"
    out = []
    for f in failing:
        security = ' <span class="badge sec">Security</span>' if f.get("security") else ""
        runbook = f' · <a href="{_e(f["runbook"])}">runbook</a>' if f.get("runbook") else ""
        evidence = f"<p><b>Evidence:</b> {_e(f['evidence'])}</p>" if f.get("evidence") else ""
        out.append(
            f'<div class="item"><h4>{_e(f["pattern"])} / {_e(f["integration"])}: '
            f"{_e(f['title'])}{security}</h4>"
            f"<p><b>Why it fails:</b> {_e(f['reason'])}</p>{evidence}"
            f'<p class="todo"><b>What to do:</b> {_e(f["what_to_do"])}</p>'
            f'<p class="muted">Owner: {_e(f["owner"])}{runbook} · policy '
            f"<code>{_e(f['policy'])}</code></p></div>"
        )
    return "".join(out)


def _details(doc: dict[str, Any]) -> str:
    out = []
    for pattern, p in doc["patterns"].items():
        out.append(
            f"<h3>{_e(pattern)} — {score_text(p)} "
            f'<span class="muted">(owner {_e(p["owner"])}; {p["passed"]} pass, '
            f"{p['failed']} fail, {p['not_applicable']} n/a)</span></h3>"
        )
        for name, i in p["integrations"].items():
            rows = "".join(
                f"<tr><td>{_e(c['title'])}<br><code>{_e(policy)}</code></td>"
                f"<td>{_badge(c['status'])}</td><td>{_e(c['reason'])}</td></tr>"
                for policy, c in i["checks"].items()
            )
            out.append(
                f'<h4>{_e(name)} — {score_text(i)} <span class="muted">({_e(i["scope"])}, '
                f"{_e(i['criticality'])}, owner {_e(i['owner'])})</span></h4>"
                '<table><tr><th style="width:28%">Policy</th><th style="width:8%">Status</th>'
                f"<th>Details</th></tr>{rows}</table>"
            )
    return "".join(out)


def _audit(doc: dict[str, Any]) -> str:
    audit = doc["audit"]
    if not audit["enabled"]:
        return "<p>No audit log is configured.</p>"
    events = audit["events"]
    if not events:
        return "<p>No audit events in the period.</p>"
    counts = ", ".join(f"{_e(k)}: {v}" for k, v in audit["counts"].items())
    rows = "".join(
        f'<tr><td class="when">{_e(str(e.get("time", "")).replace("T", " ").rstrip("Z"))}</td>'
        f"<td>{_e(e.get('type'))}</td>"
        f"<td>{_e(e.get('subject'))}</td><td>{_e(describe_event(e))}</td></tr>"
        for e in reversed(events)
    )
    return (
        f"<p>{len(events)} events, newest first ({counts}). Each record is chained to the one "
        "before it by a SHA-256 hash; <code>oversight audit verify FILE</code> proves the log "
        "was not edited.</p><table><tr><th>Time (UTC)</th><th>Event</th><th>Subject</th>"
        f"<th>Details</th></tr>{rows}</table>"
    )


def html_page(doc: dict[str, Any]) -> str:
    info, overall = doc["report"], doc["overall"]
    applicable = overall["passed"] + overall["failed"]
    legend = "".join(
        f"<tr><td><code>{_e(p['name'])}</code></td><td>{_e(p['title'])}</td></tr>"
        for p in doc["policies"]
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{_e(info["title"])}</title><style>{_CSS}</style></head><body>
<h1>{_e(info["title"])}</h1>
<p class="meta">Generated {_e(when(doc["generated"]))} from {_e(info["source"])}.
Audit events from {_e(when(info["from"]))} to {_e(when(info["to"]))} ({_e(info["period"])}).</p>
<h2>Summary</h2>
<div class="summary"><div><div class="big" style="color:{_colour(overall["score"])}">
{score_text(overall)}</div><div class="muted">overall compliance score</div></div>
<div class="counts"><span>{_badge("pass")} {overall["passed"]} checks</span>
<span>{_badge("fail")} {overall["failed"]} checks</span>
<span>{_badge("not_applicable")} {overall["not_applicable"]} checks</span>
<p class="muted">The score is the share of applicable checks that pass
({overall["passed"]} of {applicable}).</p></div></div>
{chart(doc)}
<h2>What needs attention ({len(doc["failing"])})</h2>
{_attention(doc)}
<h2>Workflows ({len(doc.get("workflows") or [])})</h2>
{render_workflows.html_section(doc)}
<h2>Every check, by pattern and integration</h2>
{_details(doc)}
<h2>Audit trail</h2>
{_audit(doc)}
<h2>The policies</h2>
<table><tr><th>Policy</th><th>What it asks</th></tr>{legend}</table>
<footer>Every integration is held to the same policies; a pattern or integration may adjust a
policy's settings in the agent's configuration. Sensitive values are shown masked only.</footer>
</body></html>
"""
