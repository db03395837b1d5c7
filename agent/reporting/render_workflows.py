"""The report's workflow section, in Markdown, HTML and CSV rows: a flow each, its steps below."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

INTRO = (
    "Each flow is a transaction across integrations, run on a schedule. Latency percentiles "
    "are per step, over the runs of the period (the agent keeps an hour's detail, a week long)."
)


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _ratio(flow: dict[str, Any]) -> str:
    ratio = flow["success_ratio"]
    return "no runs" if ratio is None else f"{ratio * 100:.1f}%"


def _worst(flow: dict[str, Any]) -> str:
    worst = flow["most_failing_step"]
    if worst is None:
        return "no step failed"
    where = f" ({worst['integration']})" if worst["integration"] else ""
    times = "once" if worst["failures"] == 1 else f"{worst['failures']} times"
    return f"{worst['name']}{where}, {times}"


def _cell(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def markdown(doc: dict[str, Any]) -> list[str]:
    flows = doc.get("workflows") or []
    out = ["", f"## Workflows ({len(flows)})", ""]
    if not flows:
        return [*out, "No flow is configured."]
    out += [INTRO, ""]
    for flow in flows:
        out += [
            f"### {flow['pattern']} / {flow['integration']}: {flow['name']}",
            "",
            f"`{_cell(flow['target'])}` (owner {flow['owner']})",
            "",
            f"- **Runs:** {flow['runs']}, of which {flow['successes']} succeeded ({_ratio(flow)})",
            f"- **Fails most at:** {_worst(flow)}",
            "",
            "| Step | Calls | Runs | Failures | p50 | p90 | p99 |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for step in flow["steps"]:
            out.append(
                f"| {_cell(step['name'])} | {_cell(step['integration'])} | {step['runs']} | "
                f"{step['failures']} | {_ms(step['p50_seconds'])} | {_ms(step['p90_seconds'])} "
                f"| {_ms(step['p99_seconds'])} |"
            )
        out.append("")
    return out


def html_section(doc: dict[str, Any]) -> str:
    e = html.escape
    flows = doc.get("workflows") or []
    if not flows:
        return "<p>No flow is configured.</p>"
    out = [f"<p>{e(INTRO)}</p>"]
    for flow in flows:
        rows = "".join(
            f"<tr><td>{e(step['name'])}</td><td>{e(step['integration'] or '')}</td>"
            f"<td>{step['runs']}</td><td>{step['failures']}</td>"
            f"<td>{_ms(step['p50_seconds'])}</td><td>{_ms(step['p90_seconds'])}</td>"
            f"<td>{_ms(step['p99_seconds'])}</td></tr>"
            for step in flow["steps"]
        )
        out.append(
            f"<h3>{e(flow['pattern'])} / {e(flow['integration'])}: {e(flow['name'])}</h3>"
            f'<p class="muted"><code>{e(flow["target"])}</code> · owner {e(flow["owner"])}</p>'
            f"<p><b>Runs:</b> {flow['runs']}, of which {flow['successes']} succeeded "
            f"({e(_ratio(flow))}) · <b>Fails most at:</b> {e(_worst(flow))}</p>"
            "<table><tr><th>Step</th><th>Calls</th><th>Runs</th><th>Failures</th><th>p50</th>"
            f"<th>p90</th><th>p99</th></tr>{rows}</table>"
        )
    return "".join(out)


def csv_rows(doc: dict[str, Any], generated: str) -> Iterator[tuple[object, ...]]:
    """One row per flow step (record=workflow): status holds its runs and failures, reason
    its percentiles, evidence the integration it calls."""
    for flow in doc.get("workflows") or []:
        for step in flow["steps"]:
            percentiles = " ".join(
                f"{q}={_ms(step[f'{q}_seconds'])}" for q in ("p50", "p90", "p99")
            )
            yield (
                "workflow",
                generated,
                flow["pattern"],
                flow["integration"],
                flow["probe"],
                step["name"],
                f"{step['failures']} of {step['runs']} runs failed",
                percentiles,
                step["integration"] or "",
                "",
                flow["owner"],
            )
