"""The policies that judge answers see every step of a flow, each for the integration it calls.

A workflow's flow looks a client up at the partner (the answer leaks a card number), reads a
status page of the partner that forgets its security headers, then pays through its own
service. The partner's checks fail with the flow's evidence beside its own probe's; the
workflow's checks judge the step that calls it.
"""

from __future__ import annotations

import time
from pathlib import Path

from agent.evaluation.compliance import ComplianceEvaluator
from agent.results import Compliance, Finding, Reason, Result, StepResult
from tests.peers.http_servers import Running
from tests.peers.partner import config, judge, plan_of, status_of, write

FLOW = "p/workflow/journey"


def flow_config(base: str, top: str = "", workflow: str = "") -> str:
    return config(
        f"""      partner:
        scope: internal
        probes:
          health: {{http: {{url: "{base}/ok"}}}}
      workflow:
        scope: internal{workflow}
        probes:
          journey:
            flow:
              steps:
                - {{name: lookup, integration: p/partner, url: "{base}/leak"}}
                - {{name: status, integration: p/partner, url: "{base}/bare"}}
                - {{name: pay, url: "{base}/ok", method: POST}}
""",
        top,
    )


async def test_each_step_is_judged_for_the_integration_it_calls(partner: Running) -> None:
    _, results, view = await judge(flow_config(partner.base))
    assert results[FLOW].success, results[FLOW].message
    assert status_of(view, "p/partner", "no_sensitive_data") == (
        "fail",
        f"{FLOW}: lookup: the response carries sensitive data: card number **** **** **** 1111",
    )
    assert status_of(view, "p/partner", "security_headers") == (
        "fail",
        f"{FLOW}: status: missing X-Content-Type-Options",
    )
    assert status_of(view, "p/workflow", "security_headers") == (
        "pass",
        "journey: pay: sends X-Content-Type-Options",
    )
    assert status_of(view, "p/workflow", "no_sensitive_data")[0] == "pass"
    findings = {(f.policy, f.subject) for f in results[FLOW].findings}
    assert ("no_sensitive_data", "p/partner") in findings
    assert ("no_sensitive_data", None) in findings  # the step to its own integration


async def test_a_flows_steps_are_checked_against_an_openapi_contract(
    partner: Running, tmp_path: Path
) -> None:
    document = {
        "openapi": "3.0.3",
        "info": {"title": "workflow", "version": "1"},
        "paths": {
            "/ok": {
                "post": {
                    "responses": {
                        "200": {
                            "description": "paid",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["id", "reference"],
                                        "properties": {"id": {"type": "string"}},
                                    }
                                }
                            },
                        }
                    }
                }
            }
        },
    }
    contract = write(tmp_path / "workflow.json", document)
    workflow = f"\n        compliance: {{api_contract: {{openapi: {contract}}}}}"
    _, _, view = await judge(flow_config(partner.base, workflow=workflow))
    status, reason = status_of(view, "p/workflow", "api_contract")
    assert status == "fail"
    assert reason == (
        "journey: pay: the 200 answer does not match the contract POST /ok in workflow.json: "
        "the body: 'reference' is a required property"
    )


def test_a_schema_cannot_describe_a_flow_of_several_answers(
    partner: Running, tmp_path: Path
) -> None:
    schema = write(tmp_path / "schema.json", {"type": "object"})
    workflow = f"\n        compliance: {{api_contract: {{schema: {schema}, probes: [journey]}}}}"
    from agent.config import ConfigError

    try:
        plan_of(flow_config(partner.base, workflow=workflow))
    except ConfigError as error:
        [problem] = error.problems
        assert problem.message == (
            "a schema describes one response; journey sends several: describe them in an "
            "OpenAPI document (api_contract.openapi)"
        )
    else:
        raise AssertionError("the schema was accepted")


def test_a_flow_that_stops_early_keeps_its_last_verdict_about_the_steps_it_missed(
    partner: Running,
) -> None:
    plan = plan_of(flow_config(partner.base))
    latest: dict[str, Result] = {}
    evaluator = ComplianceEvaluator(plan, latest, time.time())
    leak = Finding("no_sensitive_data", Compliance.FAIL, "lookup: card", "card", "p/partner")
    step = StepResult("lookup", "p/partner", True, 0.0, 0.01)
    seen = Result(FLOW, time.time() - 60, 0.1, True, steps=(step,), findings=(leak,))
    latest[FLOW] = seen
    evaluator.observe(seen, seen.started)
    down = StepResult("lookup", "p/partner", False, 0.0, 0.01, Reason.CONNECT_REFUSED)
    stopped = Result(
        FLOW, time.time(), 0.1, False, Reason.CONNECT_REFUSED, steps=(down,), cause="p/partner"
    )
    latest[FLOW] = stopped
    evaluator.observe(stopped, stopped.started)
    status, reason = status_of(evaluator.view(), "p/partner", "no_sensitive_data")
    assert status == "fail"
    assert reason.startswith(f"{FLOW}: lookup: card (as of ")
