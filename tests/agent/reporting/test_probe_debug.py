"""One probe's page and JSON: the request with its secrets masked, the last run's conditions,
phases, TLS facts, trace id and steps, the kept runs newest first, unknown names as a 404
with a sentence, and no file shown where it sits on disk."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from agent.app import App
from agent.reporting.history import history_document
from agent.reporting.probe_debug import probe_document
from agent.reporting.probe_page import render_probe_page
from agent.reporting.status import status_document
from agent.reporting.status_page import render_page
from agent.reporting.stream import resolved
from agent.results import ConditionOutcome, Reason, Result, StepResult
from tests.conftest import RunningAgent, StartAgent
from tests.peers.http_servers import Running
from tests.peers.tls_servers import TlsPki

KEY = "k3y-9f2a71-from-env"
PASSWORD = "pa55-from-env-77"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def config(partner: str, secure: str, pki: TlsPki, where: Path) -> str:
    return f"""\
agent: {{interval: 1s, timeout: 900ms, history: 3}}
compliance: {{enabled: false}}
patterns:
  bill_pay:
    owner: team-p
    integrations:
      partner:
        scope: external
        probes:
          api:
            http:
              url: "{partner}/ok?api_key=${{PARTNER_KEY}}&page=2"
              headers: {{X-API-Key: "${{PARTNER_KEY}}", X-Plain: visible}}
              basic_auth: {{username: ops, password: "${{PARTNER_PASS}}"}}
            conditions: ["[STATUS] == 200", "[BODY.status] == accepted"]
            thresholds: {{latency: {{warning: 250ms, critical: 1s}}}}
          secure: {{http: {{url: "{secure}/ok", tls: {{ca_file: {pki.ca_file}}}}}}}
          keyed: {{http: {{url: "{partner}/locked", bearer_token_file: {where}/missing-token}}}}
      node:
        scope: internal
        probes:
          disk: {{host: {{resources: [], disks: ["{where}"]}}}}
"""


@pytest.fixture
async def agent(
    start_agent: StartAgent,
    partner: Running,
    secure_partner: Running,
    pki: TlsPki,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> RunningAgent:
    monkeypatch.setenv("PARTNER_KEY", KEY)
    monkeypatch.setenv("PARTNER_PASS", PASSWORD)
    running = await start_agent(config(partner.base, secure_partner.base, pki, tmp_path))
    await running.wait_ready()
    return running


async def answer(agent: RunningAgent, path: str) -> dict:
    status, text = await agent.get(path)
    assert status == 200, (path, text)
    return json.loads(text)


async def test_the_request_is_shown_with_every_secret_masked(agent: RunningAgent) -> None:
    document = await answer(agent, "/api/v1/probes/bill_pay/partner/api")
    base = agent.app.plan.probes["bill_pay/partner/api"].target.split("/ok")[0]
    assert document["requests"] == [
        {
            "step": None,
            "integration": None,
            "method": "GET",
            "url": f"{base}/ok?api_key=<redacted>&page=2",
            "headers": {
                "X-API-Key": "<redacted>",
                "X-Plain": "visible",
                "Authorization": "Basic <redacted>",
            },
        }
    ]
    assert document["conditions"] == ["[STATUS] == 200", "[BODY.status] == accepted"]
    assert document["thresholds"] == [{"signal": "latency", "warning": "250ms", "critical": "1s"}]
    _, page = await agent.get("/probe/bill_pay/partner/api")
    assert "<br>X-API-Key: &lt;redacted&gt;<br>X-Plain: visible" in page
    assert "Authorization: Basic &lt;redacted&gt;" in page
    for path in ("/probe/bill_pay/partner/api", "/api/v1/probes/bill_pay/partner/api", "/"):
        _, text = await agent.get(path)
        assert KEY not in text and PASSWORD not in text, path


async def test_the_last_run_with_conditions_phases_tls_and_the_runs_kept(
    agent: RunningAgent,
) -> None:
    for _ in range(100):  # four runs: more than the three kept
        totals = agent.app.store.totals.get("bill_pay/partner/secure")
        if totals is not None and totals.runs >= 4:
            break
        await asyncio.sleep(0.05)
    api = await answer(agent, "/api/v1/probes/bill_pay/partner/api")
    latest = api["latest"]
    assert latest["success"] is True and latest["trace_id"] is None
    assert latest["conditions"] == [
        {"condition": "[STATUS] == 200", "success": True, "observed": "[STATUS] (200) == 200"},
        {
            "condition": "[BODY.status] == accepted",
            "success": True,
            "observed": "[BODY.status] (accepted) == accepted",
        },
    ]
    assert {"connect", "processing", "transfer"} <= set(latest["phases"])
    assert latest["tls"] == {}
    secure = await answer(agent, "/api/v1/probes/bill_pay/partner/secure")
    tls = secure["latest"]["tls"]
    assert tls["tls_version"] in ("TLS 1.2", "TLS 1.3")
    assert tls["ssl_earliest_cert_expiry"] > time.time() + 86400
    assert {"ssl_leaf_subject", "ssl_leaf_issuer", "ssl_leaf_serial"} <= set(tls)
    runs = secure["runs"]
    assert len(runs) == 3 and secure["history_size"] == 3
    assert [r["started"] for r in runs] == sorted((r["started"] for r in runs), reverse=True)
    assert all(r["success"] and r["reason"] is None for r in runs)
    assert secure["totals"]["runs"] >= 4 and secure["uptime"] == 1.0
    _, page = await agent.get("/probe/bill_pay/partner/secure")
    assert "<h3>TLS</h3>" in page and f"<dd>{tls['tls_version']}</dd>" in page
    assert page.count('<tr class="pass"><td>') >= 3  # the runs, newest first
    assert 'aria-label="last 3 runs: 3 passed, 0 failed"' in page


async def test_no_answer_says_where_a_file_sits(
    agent: RunningAgent, tmp_path: Path, pki: TlsPki
) -> None:
    for _ in range(100):
        if {"bill_pay/partner/keyed", "node/disk"} <= set(agent.app.store.latest):
            break
        await asyncio.sleep(0.05)
    keyed = await answer(agent, "/api/v1/probes/bill_pay/partner/keyed")
    assert keyed["latest"]["success"] is False
    assert "missing-token" in keyed["latest"]["message"]
    status = await answer(agent, "/api/v1/status")
    node = status["patterns"]["bill_pay"]["integrations"]["node"]["probes"]["disk"]
    assert node["target"] == f"host {tmp_path.name}"
    for path in (
        "/",
        "/api/v1/status",
        "/api/v1/history",
        "/probe/bill_pay/partner/keyed",
        "/api/v1/probes/bill_pay/partner/keyed",
        "/probe/node/disk",
        "/probe/bill_pay/partner/secure",
    ):
        _, text = await agent.get(path.replace("/node/", "/bill_pay/node/"))
        assert str(tmp_path) not in text and str(pki.ca_file) not in text, path


@pytest.mark.parametrize(
    ("names", "sentence"),
    [
        ("nope/partner/api", "there is no pattern 'nope'"),
        ("bill_pay/ghost/api", "pattern 'bill_pay' has no integration 'ghost'"),
        ("bill_pay/partner/gone", "integration bill_pay/partner has no probe 'gone'"),
    ],
)
async def test_an_unknown_name_is_a_404_with_a_sentence(
    agent: RunningAgent, names: str, sentence: str
) -> None:
    status, text = await agent.get(f"/api/v1/probes/{names}")
    assert (status, json.loads(text)) == (404, {"error": sentence})
    status, page = await agent.get(f"/probe/{names}")
    assert status == 404
    assert f"<h1>Not found</h1><p>{sentence.replace(chr(39), '&#x27;')}.</p>" in page


FLOW = """\
patterns:
  bill_pay:
    integrations:
      workflow:
        scope: internal
        probes:
          pay_bill:
            flow:
              steps:
                - name: validate
                  integration: account/service
                  url: "http://127.0.0.1:9/v"
                  capture: {token: {json: token}}
                - name: pay
                  method: POST
                  url: "http://127.0.0.1:9/p"
                  headers: {X-Account-Token: "${flow.token}"}
  account:
    integrations:
      service:
        scope: internal
        probes:
          port: {tcp: {address: "127.0.0.1:9"}}
"""


def test_a_flow_shows_its_steps_and_trace_id_and_an_idle_agent_is_not_ready(
    tmp_path: Path,
) -> None:
    path = tmp_path / "oversight.yaml"
    path.write_text(FLOW)
    app = App(path)  # not started: nothing runs, nothing is ready
    failed = ConditionOutcome("[STATUS] == 201", False, "[STATUS] (409) == 201")
    app.store.record(
        Result(
            "bill_pay/workflow/pay_bill",
            time.time(),
            0.25,
            False,
            Reason.STATUS_MISMATCH,
            "step pay: [STATUS] (409) == 201",
            trace_id=TRACE,
            steps=(
                StepResult("validate", "account/service", True, 0.0, 0.02, status=200),
                StepResult(
                    "pay",
                    None,
                    False,
                    0.02,
                    0.2,
                    Reason.STATUS_MISMATCH,
                    "[STATUS] (409) == 201",
                    status=409,
                    conditions=(failed,),
                ),
            ),
        )
    )
    snap = app.snapshot()
    document = probe_document(snap, "bill_pay/workflow/pay_bill", app.redactor)
    assert document["latest"]["trace_id"] == TRACE
    assert [r["step"] for r in document["requests"]] == ["validate", "pay"]
    assert document["requests"][1]["headers"] == {"X-Account-Token": "<redacted>"}
    assert [(s["name"], s["success"], s["status"]) for s in document["latest"]["steps"]] == [
        ("validate", True, 200),
        ("pay", False, 409),
    ]
    page = render_probe_page(document)
    assert f"<dt>trace id</dt><dd><code>{TRACE}</code></dd>" in page
    assert "<td>pay</td><td></td><td><b>status_mismatch</b> [STATUS] (409) == 201</td>" in page
    assert "<td>validate</td><td>account/service</td><td>passed</td><td>200</td>" in page
    status = resolved(status_document(snap, app.redactor))
    front = render_page(status, resolved(history_document(snap)))
    assert (
        '<span class="ready no">not ready</span> <span class="muted">(scheduler not running)'
        in front
    )
    assert "<title>Oversight: 2 unknown</title>" in front  # nothing is known to be ok yet
