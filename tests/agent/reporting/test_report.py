"""``oversight report``: the same data as Markdown, JSON, CSV and a standalone HTML page, from a
running agent or from one pass of a config; card numbers only ever masked."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from agent.reporting.report import from_agent, render
from tests.agent.audit.test_events import records, until
from tests.conftest import RunningAgent, StartAgent
from tests.peers.http_servers import Running
from tests.peers.partner import CARD, TOKEN, config
from tests.peers.tls_servers import TlsPki

DIGITS = CARD.replace(" ", "")


def partner_config(base: str, pki: TlsPki, audit: Path) -> str:
    tls = f"tls: {{ca_file: {pki.ca_file}}}"
    return config(
        f"""      partner:
        scope: external
        runbook: https://runbooks.example.com/partner
        compliance: {{auth_required: {{probes: [account]}}}}
        probes:
          customers: {{http: {{url: "{base}/leak", {tls}}}}}
          account: {{http: {{url: "{base}/open", bearer_token: {TOKEN}, {tls}}}}}
      portal:
        scope: internal
        probes:
          home: {{http: {{url: "{base}/bare", {tls}}}}}
""",
        top=f"agent: {{interval: 60s, timeout: 2s}}\naudit: {{path: {audit}}}\n",
    )


@pytest.fixture
async def running(
    start_agent: StartAgent, secure_partner: Running, pki: TlsPki, tmp_path: Path
) -> RunningAgent:
    audit = tmp_path / "audit.jsonl"
    agent = await start_agent(partner_config(secure_partner.base, pki, audit))
    await agent.wait_ready()
    await until(lambda: len([r for r in records(audit) if r["type"] == "security_event"]) == 2)
    return agent


async def cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent.cli",
        "report",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def no_card(text: str) -> None:
    assert CARD not in text and DIGITS not in text.replace(" ", "").replace("-", "")


async def test_markdown_says_what_fails_why_and_what_to_do(running: RunningAgent) -> None:
    document = await from_agent(running.base, 3600)
    text = render(document, "md")
    no_card(text)
    assert text.startswith("# Compliance and audit report\n")
    assert "## What needs attention (3)" in text
    assert "### p / partner: Responses do not expose card numbers or other sensitive data " in text
    assert "- **Evidence:** card number **** **** **** 1111" in text
    assert "- **What to do:** Treat as a data leak" in text
    assert "([runbook](https://runbooks.example.com/partner))" in text
    assert "| p | team-p | " in text  # the pattern's score row
    assert "| security_event | p/partner | sensitive_data (no_sensitive_data): " in text


async def test_json_and_csv_carry_the_same_checks(running: RunningAgent) -> None:
    document = await from_agent(running.base, 3600)
    data = json.loads(render(document, "json"))
    assert data["report"]["period"] == "1h" and data["audit"]["enabled"]
    assert data["audit"]["counts"]["security_event"] == 2
    rows = list(csv.DictReader(io.StringIO(render(document, "csv"))))
    checks = [r for r in rows if r["record"] == "check"]
    assert len(checks) == 18  # 2 integrations x 9 policies
    failing = {(r["integration"], r["policy_or_event"]) for r in checks if r["status"] == "fail"}
    assert failing == {
        ("partner", "no_sensitive_data"),
        ("partner", "auth_required"),
        ("portal", "security_headers"),
    }
    leak = next(
        r for r in checks if r["policy_or_event"] == "no_sensitive_data" and r["status"] == "fail"
    )
    assert leak["evidence"] == "card number **** **** **** 1111" and leak["what_to_do"]
    audit = [r for r in rows if r["record"] == "audit"]
    assert {"agent_started", "config_loaded", "security_event"} <= {
        r["policy_or_event"] for r in audit
    }
    no_card(render(document, "csv") + render(document, "json"))


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs


async def test_the_html_page_stands_alone(running: RunningAgent, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    code, _, err = await cli("--from", running.base, "--format", "html", "-o", str(out))
    assert (code, err.strip()) == (0, f"wrote {out} (html)")
    page = out.read_text()
    no_card(page)
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert not [a for a in parser.attrs if a[0] == "src"]
    hrefs = {v for k, v in parser.attrs if k == "href"}
    assert hrefs == {"https://runbooks.example.com/partner"}  # runbooks only: nothing to fetch
    assert {"style", "svg", "rect", "table"} <= set(parser.tags)
    assert "What needs attention (3)" in page and "What to do:" in page
    assert page.count('<span class="badge sec">Security</span>') == 2
    assert "card number **** **** **** 1111" in page


async def test_from_a_config_probed_once(
    secure_partner: Running, pki: TlsPki, tmp_path: Path
) -> None:
    path = tmp_path / "oversight.yaml"
    path.write_text(partner_config(secure_partner.base, pki, tmp_path / "none.jsonl"))
    code, out, _ = await cli("-c", str(path), "--format", "json", "--period", "2h")
    assert code == 0
    data = json.loads(out)
    assert data["report"]["source"] == f"one pass of every probe in {path}"
    assert data["report"]["period_seconds"] == 7200
    assert {f["policy"] for f in data["failing"]} == {
        "no_sensitive_data",
        "auth_required",
        "security_headers",
    }
    assert data["audit"] == {"enabled": True, "events": [], "counts": {}, "write_failures": 0}
    no_card(out)


async def test_an_unreachable_agent_is_one_clear_line(tmp_path: Path) -> None:
    from tests.peers.http_servers import closed_port

    port = closed_port()
    code, out, err = await cli("--from", f"http://127.0.0.1:{port}", "--format", "md")
    assert code == 1 and out == ""
    assert err == f"error: cannot reach the agent at http://127.0.0.1:{port}: connection refused\n"
