"""A kind's settings checked against the whole config: flows and commands, at their lines."""

from __future__ import annotations

import pytest

from agent.config import ConfigError, load_config_text
from agent.planning import build_plan

FLOWS = """\
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
                  integration: account/account_servce
                  url: "http://127.0.0.1:1/validate?ref=${flow.payment_id}"
                  capture: {token: {json: token}, account_id: {json: id, public: true}}
                - name: verify
                  integration: client/client_service
                  url: "http://127.0.0.1:1/clients/${flow.acount_id}"
                  headers: {X-Token: "${flow.token}", X-Echo: "${flow.echo}"}
                  capture: {echo: {header: X-Echo}}
                - name: submit
                  url: "http://127.0.0.1:1/payments"
                  body: '{"token": "${flow.token}", "note": "${flow.nothing}"}'
                  capture: {payment_id: {json: id}}
          disk:
            command:
              argv: [/usr/lib/nagios/plugins/check_disk, --password, "${DISK_PASSWORD}"]
  account:
    integrations:
      account_service:
        scope: internal
        probes: {health: {http: {url: "http://127.0.0.1:1/health"}}}
  client:
    integrations:
      client_service:
        scope: internal
        probes: {health: {http: {url: "http://127.0.0.1:1/health"}}}
"""
AT = "oversight.yaml:{}: patterns.bill_pay.integrations.workflow.probes.{}"


def test_flow_and_command_problems_that_need_the_whole_config_name_their_lines() -> None:
    loaded = load_config_text(FLOWS, name="oversight.yaml", env={"DISK_PASSWORD": "hunter22"})
    with pytest.raises(ConfigError) as caught:
        build_plan(loaded)
    assert [str(p) for p in caught.value.problems] == [
        AT.format(11, "pay_bill.flow.steps[0].integration")
        + ": 'account/account_servce' is not a configured integration (pattern/name); "
        "did you mean 'account/account_service'?",
        AT.format(12, "pay_bill.flow.steps[0].url")
        + ": ${flow.payment_id} is used before the step that captures it",
        AT.format(16, "pay_bill.flow.steps[1].url")
        + ": ${flow.acount_id}: no step captures 'acount_id'; did you mean 'account_id'?",
        AT.format(17, "pay_bill.flow.steps[1].headers.X-Echo")
        + ": ${flow.echo} is captured by this step, after its request is sent",
        AT.format(21, "pay_bill.flow.steps[2].body")
        + ": ${flow.nothing}: no step captures 'nothing' "
        "(captured: account_id, echo, payment_id, token)",
        AT.format(25, "disk.command.argv[2]")
        + ": a value from the environment is on the command line, where every user of the host "
        "can read it; pass it in env (env: {NAME: ${VAR}}) and read it there",
    ]


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            '{name: a, url: "http://h/", capture: {x: {json: a, header: B}}}',
            "capture from one of json, header (with an optional regex), regex or status",
        ),
        (
            '{name: a, url: "http://h/", capture: {x: {regex: "id=(\\\\d+)", group: 2}}}',
            "the regex has no group 2",
        ),
        ('{name: a, url: "http://h/", capture: {x: {json: "a..b"}}}', "bad JSON path 'a..b'"),
        ('{name: a, url: "http://h/", conditions: ["[STATUS] == OK"]}', "[STATUS] == OK"),
        ('{name: a, url: "http://h/", integration: nopattern}', "(got 'nopattern')"),
        ('{name: a, url: "http://h/", poll: {max_requests: 1}}', "greater than or equal to 2"),
    ],
)
def test_a_step_is_checked_as_the_file_loads(step: str, message: str) -> None:
    text = f"""\
patterns:
  p:
    integrations:
      i:
        scope: internal
        probes:
          f:
            flow:
              steps:
                - {step}
"""
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, name="oversight.yaml")
    [problem] = caught.value.problems
    assert problem.line == 10
    assert message in problem.message, problem


def test_two_steps_of_one_name_or_one_capture_twice_are_refused() -> None:
    text = """\
patterns:
  p:
    integrations:
      i:
        scope: internal
        probes:
          f:
            flow:
              steps:
                - {name: a, url: "http://h/", capture: {x: {status: true}}}
                - {name: b, url: "http://h/", capture: {x: {status: true}}}
"""
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, name="oversight.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "oversight.yaml:8: patterns.p.integrations.i.probes.f.flow: 'x' is captured by two steps"
    ]


def test_a_flow_plan_knows_the_integrations_it_calls() -> None:
    text = FLOWS.replace("account_servce", "account_service").replace("acount_id", "account_id")
    text = text.replace('"${flow.payment_id}"', '"x"').replace("?ref=${flow.payment_id}", "")
    text = text.replace(', X-Echo: "${flow.echo}"', "").replace(', "note": "${flow.nothing}"', "")
    text = text.replace('--password, "${DISK_PASSWORD}"', "-w, 10%")
    plan = build_plan(load_config_text(text, name="oversight.yaml"))
    workflow = plan.integrations["bill_pay/workflow"]
    assert workflow.calls == ("account/account_service", "client/client_service")
    steps = plan.probes["bill_pay/workflow/pay_bill"].settings.steps
    assert [s.integration for s in steps] == [
        "account/account_service",
        "client/client_service",
        "bill_pay/workflow",  # a step without one calls the flow's own integration
    ]
    assert plan.probes["bill_pay/workflow/pay_bill"].target == "validate -> verify -> submit"
    assert steps[1].url == "http://127.0.0.1:1/clients/${flow.account_id}"  # left for the run
