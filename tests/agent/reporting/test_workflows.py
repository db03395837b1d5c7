"""A flow run by the agent: its steps in the status API and page of every pattern it crosses,
its series in /metrics, its root cause, its history at /api/v1/flows and in the report."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.reporting.report import from_agent, from_config, render
from tests.agent.probers.test_flow import (
    ACCOUNT,
    CLIENT,
    PAYMENTS,
    TOKEN_PREFIX,
    Ledger,
    Services,
    account_app,
    client_app,
    payments_app,
)
from tests.conftest import RunningAgent, StartAgent, sample
from tests.peers.http_servers import serve

FLOW = "bill_pay/workflow/pay_bill"


def agent_config(services: Services) -> str:
    def port_probe(peer: Any) -> dict[str, Any]:
        return {"port": {"tcp": {"address": peer.base.removeprefix("http://")}}}

    def integration(probes: dict[str, Any]) -> dict[str, Any]:
        return {"scope": "internal", "probes": probes}

    flow = {"interval": "400ms", "timeout": "350ms", "flow": {"steps": services.steps()}}
    patterns = {
        "bill_pay": {
            "integrations": {
                "processor": integration(port_probe(services.payments)),
                "workflow": integration({"pay_bill": flow}),
            }
        },
        "account": {"integrations": {"account_service": integration(port_probe(services.account))}},
        "client": {"integrations": {"client_service": integration(port_probe(services.client))}},
    }
    agent = {"interval": "1s", "timeout": "500ms", "state": {"failures_to_down": 1}}
    return yaml.safe_dump({"agent": agent, "patterns": patterns})


@pytest.fixture
async def services() -> AsyncIterator[Services]:
    ledger = Ledger(settle_after=1)
    async with (
        serve(account_app(ledger)) as a,
        serve(client_app(ledger)) as c,
        serve(payments_app(ledger)) as p,
    ):
        yield Services(a, c, p, ledger)


async def until(agent: RunningAgent, check: Any, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if check(agent):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("not in time")


def runs(agent: RunningAgent) -> int:
    totals = agent.app.store.totals.get(FLOW)
    return totals.runs if totals else 0


async def test_a_flow_across_three_patterns_in_the_status_metrics_and_report(
    start_agent: StartAgent, services: Services
) -> None:
    agent = await start_agent(agent_config(services))
    await agent.wait_ready()
    await until(agent, lambda a: runs(a) >= 2)

    _, text = await agent.get("/api/v1/status")
    assert TOKEN_PREFIX not in text
    status = json.loads(text)["patterns"]
    latest = status["bill_pay"]["integrations"]["workflow"]["probes"]["pay_bill"]["latest"]
    assert latest["success"] is True
    steps = latest["steps"]
    assert [(s["name"], s["integration"], s["success"]) for s in steps] == [
        ("validate_account", ACCOUNT, True),
        ("verify_client", CLIENT, True),
        ("submit_payment", PAYMENTS, True),
        ("poll_payment", PAYMENTS, True),
    ]
    assert all(s["duration_seconds"] > 0 for s in steps)
    assert steps[0]["captured"] == {
        "account_token": "<redacted>",
        "account_id": "1001",
        "request_id": "77",
    }
    for pattern, name, called in (
        ("account", "account_service", ["validate_account"]),
        ("client", "client_service", ["verify_client"]),
        ("bill_pay", "processor", ["submit_payment", "poll_payment"]),
    ):
        [flow] = status[pattern]["integrations"][name]["flows"]
        assert flow["probe"] == FLOW
        assert [(s["name"], s["ran"], s["success"]) for s in flow["steps"]] == [
            (step, True, True) for step in called
        ]
    _, page = await agent.get("/")
    assert "flow bill_pay/workflow/pay_bill: validate_account: ok" in page
    assert (
        '<li class="ok">submit_payment <span class="muted">(bill_pay/processor)</span> ok' in page
    )
    assert TOKEN_PREFIX not in page

    services.ledger.rejecting = True  # tokens from the account service no longer pass
    await until(agent, lambda a: a.app.tracker.status("bill_pay/workflow").state.value == "down")
    workflow = agent.app.tracker.status("bill_pay/workflow")
    assert workflow.root_cause == PAYMENTS
    assert agent.app.tracker.status("bill_pay/processor").state.value == "ok"  # its port is up
    metrics = await agent.metrics()
    labels = {"pattern": "bill_pay", "integration": "workflow"}
    state = {"state": "down", "root_cause": PAYMENTS}
    assert sample(metrics, "oversight_integration_state", **state, **labels) == 1
    failures = sample(
        metrics, "oversight_flow_step_failures_total", step="submit_payment", **labels
    )
    assert failures is not None and failures >= 1
    assert sample(metrics, "oversight_flow_step_success", step="poll_payment", **labels) is None
    assert sample(metrics, "oversight_flow_step_success", step="verify_client", **labels) == 1

    _, text = await agent.get("/api/v1/flows?since=1h")
    [flow] = json.loads(text)["flows"]
    assert flow["probe"] == FLOW and flow["runs"] >= 3
    assert 0 < flow["success_ratio"] < 1
    assert flow["most_failing_step"]["name"] == "submit_payment"
    assert [s["name"] for s in flow["steps"]] == [
        "validate_account",
        "verify_client",
        "submit_payment",
        "poll_payment",
    ]
    assert flow["steps"][0]["p50_seconds"] > 0
    assert flow["steps"][0]["failures"] == 0

    document = await from_agent(agent.base, 3600)
    markdown = render(document, "md")
    assert "## Workflows (1)" in markdown
    assert "### bill_pay / workflow: pay_bill" in markdown
    assert f"- **Fails most at:** submit_payment ({PAYMENTS}), " in markdown
    assert "| validate_account | account/account_service |" in markdown
    assert "<h2>Workflows (1)</h2>" in render(document, "html")
    csv_text = render(document, "csv")
    assert any(
        line.startswith("workflow,") and ",submit_payment," in line
        for line in csv_text.splitlines()
    )


async def test_the_flows_api_refuses_a_bad_period(
    start_agent: StartAgent, services: Services
) -> None:
    agent = await start_agent(agent_config(services))
    status, text = await agent.get("/api/v1/flows?since=yesterday-ish")
    assert status == 400 and "error" in json.loads(text)


async def test_a_report_from_one_pass_has_each_flow_once(
    services: Services, tmp_path: Path
) -> None:
    path = tmp_path / "oversight.yaml"
    path.write_text(agent_config(services))
    document = await from_config(path, 3600)
    [flow] = document["workflows"]
    assert (flow["probe"], flow["runs"], flow["successes"]) == (FLOW, 1, 1)
    assert [s["runs"] for s in flow["steps"]] == [1, 1, 1, 1]
    assert "Fails most at:** no step failed" in render(document, "md")
