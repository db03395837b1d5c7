"""The demo's pay-a-bill flow: green when the chain works, and the one probe that sees the
account tokens the payment processor rejects while every single-service check stays green."""

from __future__ import annotations

import time

from agent.config.loader import load_config_text
from agent.demo import DemoServices
from agent.demo.timeline import SCHEDULE
from agent.evaluation.state import State, StateTracker
from agent.plan import Plan
from agent.planning import build_plan
from agent.results import Reason, Result
from agent.runner import run_once
from agent.store import ResultStore

FLOW = "bill_pay/payment_workflow/pay_bill"


async def probe_once(demo: DemoServices) -> tuple[Plan, dict[str, Result]]:
    plan = build_plan(load_config_text(demo.config_yaml(), name="demo.yaml"))
    return plan, await run_once(plan)


def states(plan: Plan, results: dict[str, Result]) -> StateTracker:
    store = ResultStore()
    now = time.time()
    tracker = StateTracker(plan, store.latest, now)
    for result in results.values():
        store.record(result)
        tracker.observe(result, now)
    return tracker


async def test_paying_a_bill_goes_through_three_patterns(demo: DemoServices) -> None:
    _, results = await probe_once(demo)
    flow = results[FLOW]
    assert flow.success, flow.message
    assert [(s.name, s.integration) for s in flow.steps] == [
        ("validate_account", "account/account_service"),
        ("verify_client", "client/client_service"),
        ("submit_payment", "bill_pay/payment_processor"),
        ("poll_payment", "bill_pay/payment_processor"),
    ]
    validate, _, submit, poll = flow.steps
    assert validate.captured == (("account_token", None), ("account_id", "1001"))
    assert submit.status == 201 and submit.captured[0][1].startswith("pay_")
    assert poll.requests >= 2  # pending first, settled after a moment


async def test_a_token_the_processor_rejects_is_caught_by_the_flow_alone(
    demo: DemoServices,
) -> None:
    assert any(s.fault == "stale_tokens" for s in SCHEDULE)  # it is in the demo's timeline
    await demo["account/account_service"].update(stale_tokens=True)
    plan, results = await probe_once(demo)
    flow = results.pop(FLOW)
    assert (flow.reason, flow.cause) == (Reason.STATUS_MISMATCH, "bill_pay/payment_processor")
    assert flow.message == (
        "step submit_payment (bill_pay/payment_processor): [STATUS] (401) == 201; "
        "[BODY.status] (absent) == accepted"
    )
    health = {k: r for k, r in results.items() if not k.endswith(".auth_check")}
    assert [k for k, r in health.items() if not r.success] == []  # every other check is green
    tracker = states(plan, {**results, FLOW: flow})
    workflow = tracker.status("bill_pay/payment_workflow")
    assert (workflow.state, workflow.root_cause) == (State.DOWN, "bill_pay/payment_processor")
    assert tracker.status("bill_pay/payment_processor").state is State.OK
    assert tracker.status("account/account_service").state is State.OK


async def test_a_ledger_outage_stops_the_flow_at_the_account_service(demo: DemoServices) -> None:
    await demo["account/core_ledger"].update(down=True)
    plan, results = await probe_once(demo)
    flow = results[FLOW]
    assert (flow.reason, flow.cause) == (Reason.STATUS_MISMATCH, "account/account_service")
    assert [s.name for s in flow.steps] == ["validate_account"]
    workflow = states(plan, results).status("bill_pay/payment_workflow")
    assert (workflow.state, workflow.root_cause) == (State.IMPACTED, "account/core_ledger")
