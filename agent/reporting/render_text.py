"""The report as Markdown (for people and tickets) and CSV (for spreadsheets)."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from agent.reporting import render_workflows
from agent.reporting.events import describe_event

STATUS_WORDS = {"pass": "pass", "fail": "FAIL", "not_applicable": "n/a"}


def when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def score_text(block: dict[str, Any]) -> str:
    return "n/a" if block.get("score") is None else f"{block['score'] * 100:.0f}%"


def _cell(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def markdown(doc: dict[str, Any]) -> str:
    info, overall = doc["report"], doc["overall"]
    applicable = overall["passed"] + overall["failed"]
    out = [
        f"# {info['title']}",
        "",
        f"Generated {when(doc['generated'])} from {info['source']}; audit events from "
        f"{when(info['from'])} to {when(info['to'])} ({info['period']}).",
        "",
        "## Summary",
        "",
        f"Overall compliance score: **{score_text(overall)}** — {overall['passed']} of "
        f"{applicable} applicable checks pass, {overall['failed']} fail, "
        f"{overall['not_applicable']} do not apply.",
        "",
        "| Pattern | Owner | Score | Pass | Fail | Not applicable |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, p in doc["patterns"].items():
        out.append(
            f"| {_cell(name)} | {_cell(p['owner'])} | {score_text(p)} | {p['passed']} | "
            f"{p['failed']} | {p['not_applicable']} |"
        )
    failing = doc["failing"]
    out += ["", f"## What needs attention ({len(failing)})", ""]
    if not failing:
        out.append("Nothing: every applicable check passes.")
    for item in failing:
        flag = " (security)" if item.get("security") else ""
        out += [
            f"### {item['pattern']} / {item['integration']}: {item['title']}{flag}",
            "",
            f"- **Policy:** `{item['policy']}`",
            f"- **Why it fails:** {item['reason']}",
        ]
        if item.get("evidence"):
            out.append(f"- **Evidence:** {item['evidence']}")
        out += [
            f"- **What to do:** {item['what_to_do']}",
            f"- **Owner:** {item['owner']}"
            + (f" ([runbook]({item['runbook']}))" if item.get("runbook") else ""),
            "",
        ]
    out += render_workflows.markdown(doc)
    out += ["", "## Every check", ""]
    for pattern, p in doc["patterns"].items():
        out += [f"### {pattern} — {score_text(p)} (owner {p['owner']})", ""]
        for name, i in p["integrations"].items():
            out += [
                f"#### {name} — {score_text(i)} ({i['scope']}, {i['criticality']}, "
                f"owner {i['owner']})",
                "",
                "| Policy | Status | Reason |",
                "| --- | --- | --- |",
            ]
            for policy, c in i["checks"].items():
                out.append(
                    f"| {_cell(policy)} | {STATUS_WORDS.get(c['status'], c['status'])} | "
                    f"{_cell(c['reason'])} |"
                )
            out.append("")
    audit = doc["audit"]
    events = audit["events"]
    out += ["## Audit events", ""]
    if not audit["enabled"]:
        out.append("No audit log is configured (`audit: {path: ...}`).")
    elif not events:
        out.append("No events in the period.")
    else:
        counts = ", ".join(f"{k} {v}" for k, v in audit["counts"].items())
        out += [
            f"{len(events)} events ({counts}).",
            "",
            "| Time (UTC) | Event | Subject | Details |",
            "| --- | --- | --- | --- |",
        ]
        for e in events:
            out.append(
                f"| {_cell(e.get('time'))} | {_cell(e.get('type'))} | {_cell(e.get('subject'))} "
                f"| {_cell(describe_event(e))} |"
            )
    return "\n".join(out).rstrip() + "\n"


CSV_COLUMNS = (
    "record",
    "time",
    "pattern",
    "integration",
    "subject",
    "policy_or_event",
    "status",
    "reason",
    "evidence",
    "what_to_do",
    "owner",
)


def csv_text(doc: dict[str, Any]) -> str:
    """One row per check (record=check), per flow step (record=workflow), then per audit
    event (record=audit)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    generated = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(doc["generated"]))
    for pattern, p in doc["patterns"].items():
        for name, i in p["integrations"].items():
            for policy, c in i["checks"].items():
                writer.writerow(
                    (
                        "check",
                        generated,
                        pattern,
                        name,
                        f"{pattern}/{name}",
                        policy,
                        c["status"],
                        c["reason"],
                        c["evidence"],
                        c.get("what_to_do", ""),
                        i["owner"],
                    )
                )
    writer.writerows(render_workflows.csv_rows(doc, generated))
    for e in doc["audit"]["events"]:
        subject = str(e.get("subject", ""))
        parts = subject.split("/")
        pattern, name = (parts[0], parts[1]) if len(parts) in (2, 3) and parts[0] else ("", "")
        row = ("audit", e.get("time"), pattern, name, subject, e.get("type"), "")
        writer.writerow((*row, describe_event(e), "", "", ""))
    return buffer.getvalue()
