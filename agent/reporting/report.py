"""``oversight report``: compliance, workflows and audit events for a period.

The data comes from a running agent's API (``--from URL``) or, with ``-c CONFIG``, from
probing every endpoint once here (plus the events of the config's audit log, if it can be
read from this host). Renderers turn the one document into Markdown, JSON, CSV or HTML.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from agent.audit.read import count_types, read_events
from agent.durations import format_duration
from agent.flow_history import from_results
from agent.planning import load_plan
from agent.probers.http_client import failure
from agent.redact import Redactor, redact_url
from agent.reporting import render_html, render_text
from agent.reporting.document import compliance_document
from agent.reporting.once import run_and_evaluate
from agent.reporting.workflows import workflow_document

FORMATS = ("md", "json", "csv", "html")


class ReportError(Exception):
    """The report cannot be made (agent unreachable, bad answer): said in one line."""


def report_document(
    compliance: dict[str, Any],
    audit: dict[str, Any],
    *,
    source: str,
    period: float,
    now: float,
    workflows: dict[str, Any] | None = None,
) -> dict[str, Any]:
    events = audit.get("events", [])
    return {
        **compliance,
        "workflows": (workflows or {}).get("flows", []),
        "report": {
            "title": "Compliance and audit report",
            "source": source,
            "period_seconds": period,
            "period": format_duration(period),
            "from": now - period,
            "to": now,
        },
        "audit": {
            "enabled": bool(audit.get("enabled")),
            "events": events,
            "counts": count_types(events),
            "write_failures": audit.get("write_failures", 0),
        },
    }


async def from_agent(url: str, period: float, timeout: float = 30.0) -> dict[str, Any]:
    """The report from the agent at ``url`` (``host:port`` means ``http://host:port``);
    :class:`ReportError` says in one line why it cannot be had."""
    base = (url if "://" in url else f"http://{url}").rstrip("/")
    if URL(base).scheme not in ("http", "https"):
        raise ReportError(f"{redact_url(base)} is not an http:// or https:// address")
    now = time.time()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
            compliance = await _get(http, f"{base}/api/v1/compliance")
            audit = await _get(http, f"{base}/api/v1/audit?since={period:g}s&limit=10000")
            flows = await _get(http, f"{base}/api/v1/flows?since={period:g}s", optional=True)
    except TimeoutError:
        raise ReportError(
            f"cannot reach the agent at {redact_url(base)}: no answer within {timeout:g}s"
        ) from None
    except (aiohttp.ClientError, OSError) as exc:
        what = failure(exc, URL(base).host or base).message  # "connection refused", ...
        raise ReportError(f"cannot reach the agent at {redact_url(base)}: {what}") from None
    return report_document(
        compliance,
        audit,
        source=f"agent at {redact_url(base)}",
        period=period,
        now=now,
        workflows=flows,
    )


async def _get(http: aiohttp.ClientSession, url: str, *, optional: bool = False) -> dict[str, Any]:
    """The JSON object at ``url``; an ``optional`` one an agent may not serve yet (404) is
    empty."""
    async with http.get(url) as response:
        if optional and response.status == 404:
            return {}
        if response.status != 200:
            raise ReportError(f"{redact_url(url)} answered {response.status}")
        try:
            data = json.loads(await response.text())
        except ValueError:
            raise ReportError(f"{redact_url(url)} did not answer JSON") from None
    if not isinstance(data, dict):
        raise ReportError(f"{redact_url(url)} did not answer a JSON object")
    return data


async def from_config(config: Path, period: float) -> dict[str, Any]:
    plan = load_plan(config)
    view, results = await run_and_evaluate(plan)
    now = time.time()
    redactor = Redactor(plan.secrets)
    compliance = compliance_document(view, plan, generated=now, scrub=redactor.scrub)
    audit: dict[str, Any] = {"enabled": plan.audit is not None, "events": []}
    if plan.audit is not None:
        audit["events"] = read_events(
            plan.audit.path, keep=plan.audit.keep, since=now - period, limit=10_000
        )
    flows = workflow_document(plan, from_results(results.values()), since=now - period, until=now)
    return report_document(
        compliance,
        audit,
        source=f"one pass of every probe in {config}",
        period=period,
        now=now,
        workflows=flows,
    )


def render(document: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, indent=1) + "\n"
    if fmt == "md":
        return render_text.markdown(document)
    if fmt == "csv":
        return render_text.csv_text(document)
    if fmt == "html":
        return render_html.html_page(document)
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
