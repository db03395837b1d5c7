"""The demo shows, in every pattern, at least one failing policy with its reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.config.loader import load_config_text
from agent.demo import DemoServices, start_services
from agent.planning import build_plan
from agent.reporting.once import evaluate_once
from tests.agent.audit.test_events import records, until
from tests.conftest import StartAgent


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[DemoServices]:
    services = await start_services(tmp_path)
    yield services
    await services.stop()


async def test_every_pattern_fails_a_policy_and_says_why(demo: DemoServices) -> None:
    plan = build_plan(load_config_text(demo.config_yaml(), name="demo.yaml"))
    assert plan.audit is not None and plan.audit.path == str(demo.workdir / "audit.jsonl")
    view = await evaluate_once(plan)
    failing = {(c.key, c.policy): c.reason for c in view.checks if c.status.value == "fail"}
    assert failing == {
        ("bill_pay/payment_processor", "auth_required"): (
            "payments.auth_check: a POST without credentials was answered 201: "
            "authentication is not enforced"
        ),
        ("bill_pay/biller_network", "no_sensitive_data"): (
            "billers: the response carries sensitive data: card number **** **** **** 1111"
        ),
        ("account/core_ledger", "api_contract"): (
            "balance: the 200 answer does not match contract-balance_schema.json: "
            "$.available: '1520.00' is not of type 'number'"
        ),
        ("account/account_service", "security_headers"): (
            "health: missing X-Content-Type-Options; "  # and the pay-a-bill flow's step sees it
            "bill_pay/payment_workflow/pay_bill: validate_account: missing X-Content-Type-Options"
        ),
        ("client/kyc_vendor", "security_headers"): (
            "health, verify: missing Strict-Transport-Security"
        ),
    }
    for pattern in plan.pattern_owners:
        assert view.score(pattern).failed >= 1, pattern
    passing = {(c.key, c.policy) for c in view.checks if c.status.value == "pass"}
    assert ("bill_pay/payment_processor", "api_contract") in passing  # the OpenAPI contract
    assert ("client/kyc_vendor", "auth_required") in passing
    assert ("account/core_ledger", "auth_required") in passing


async def test_a_certificate_near_expiry_fails_its_policy(demo: DemoServices) -> None:
    await demo["client/kyc_vendor"].update(near_expiry=True)
    plan = build_plan(load_config_text(demo.config_yaml(), name="demo.yaml"))
    view = await evaluate_once(plan)
    check = next(
        c for c in view.checks if c.key == "client/kyc_vendor" and c.policy == "cert_min_days_left"
    )
    assert check.status.value == "fail"
    assert "the certificate expires in 5.0 days" in check.reason


async def test_the_demo_audit_log_verifies_and_a_tampered_copy_does_not(
    demo: DemoServices, start_agent: StartAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.cli import main

    agent = await start_agent(demo.config_yaml())
    await agent.wait_ready()
    log = demo.workdir / "audit.jsonl"
    await until(lambda: len([r for r in records(log) if r["type"] == "security_event"]) == 2)
    await agent.app.stop()
    assert main(["audit", "verify", str(log)]) == 0
    lines = log.read_text().splitlines(keepends=True)
    leak = next(i for i, line in enumerate(lines) if '"sensitive_data"' in line)
    tampered = demo.workdir / "tampered.jsonl"
    tampered.write_text("".join([*lines[:leak], *lines[leak + 1 :]]))  # the leak, erased
    capsys.readouterr()
    assert main(["audit", "verify", str(tampered)]) == 1
    assert f"record {leak + 1} follows record {leak - 1}: records are missing" in (
        capsys.readouterr().err
    )
