"""A flow's trace against a real OTLP receiver: one root span, a child per step, and each step's
own traceparent sent to the service it calls; a failing step marks its span and the root."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.agent.probers.test_flow import (
    CLIENT,
    PAYMENTS,
    TOKEN_PREFIX,
    Ledger,
    Services,
    account_app,
    client_app,
    payments_app,
)
from tests.exporters.otlp.test_output import CLIENT as CLIENT_KIND
from tests.exporters.otlp.test_output import ERROR, Receivers, receivers
from tests.peers.http_servers import serve
from tests.peers.otlp_receiver import Span, otel_agent, until

__all__ = ["receivers"]
FLOW = "bill_pay/workflow/pay_bill"


@pytest.fixture
async def services() -> AsyncIterator[Services]:
    ledger = Ledger(settle_after=1)
    async with (
        serve(account_app(ledger)) as a,
        serve(client_app(ledger)) as c,
        serve(payments_app(ledger)) as p,
    ):
        yield Services(a, c, p, ledger)


def config(services: Services) -> str:
    flow = {"interval": "300ms", "timeout": "250ms", "flow": {"steps": services.steps()}}
    port = {"port": {"tcp": {"address": services.client.base.removeprefix("http://")}}}
    document = {
        "patterns": {
            "bill_pay": {
                "integrations": {
                    "workflow": {"scope": "internal", "probes": {"pay_bill": flow}},
                    "processor": {"scope": "external", "probes": port},
                }
            },
            "account": {"integrations": {"account_service": {"scope": "internal", "probes": port}}},
            "client": {"integrations": {"client_service": {"scope": "internal", "probes": port}}},
        }
    }
    return json.dumps(document)  # JSON is YAML


def tree(spans: list[Span], trace_id: str) -> tuple[Span, list[Span]]:
    mine = [s for s in spans if s.trace_id == trace_id]
    (root,) = [s for s in mine if not s.parent_id]
    return root, sorted((s for s in mine if s.parent_id), key=lambda s: s.start)


async def test_a_flow_is_one_trace_with_a_span_per_step(
    tmp_path: Path, receivers: Receivers, services: Services
) -> None:
    sink = receivers.sink
    async with otel_agent(tmp_path, config(services), receivers.env("grpc")) as agent:
        store = agent.app.store
        await until(lambda: FLOW in store.latest and store.latest[FLOW].trace_id)
        result = store.latest[FLOW]
        await until(lambda: len([s for s in sink.spans() if s.trace_id == result.trace_id]) == 5)
        services.ledger.rejecting = True
        await until(lambda: not store.latest[FLOW].success)
        failed = store.latest[FLOW]
        await until(lambda: any(s.trace_id == failed.trace_id for s in sink.spans()))

    root, steps = tree(sink.spans(), result.trace_id or "")
    assert root.name == f"flow {FLOW}" and root.kind == CLIENT_KIND
    assert root.attributes["oversight.flow.steps"] == 4
    assert [s.name for s in steps] == [
        "validate_account",
        "verify_client",
        "submit_payment",
        "poll_payment",
    ]
    assert all(s.parent_id == root.span_id and s.kind == CLIENT_KIND for s in steps)
    assert all(root.start <= s.start and s.end <= root.end for s in steps)
    _, verify, submit, _ = steps
    assert verify.attributes == {
        "oversight.step": "verify_client",
        "oversight.step.integration": CLIENT,
        "http.request.method": "GET",
        "url.full": services.client.url("/clients/${flow.account_id}"),
        "server.address": "127.0.0.1",
        "server.port": int(services.client.base.rsplit(":", 1)[1]),
        "http.response.status_code": 200,
        "oversight.step.requests": 1,
    }
    assert submit.attributes["http.response.status_code"] == 303
    # each service saw the span of the step that called it as its parent
    sent = {
        headers["traceparent"].split("-")[2]
        for headers in services.ledger.seen["client"] + services.ledger.seen["payments"]
    }
    assert {verify.span_id, submit.span_id} <= sent

    root, steps = tree(sink.spans(), failed.trace_id or "")
    assert root.status_code == ERROR
    assert root.attributes["oversight.failure.step"] == "submit_payment"
    assert root.attributes["oversight.failure.cause"] == PAYMENTS
    assert root.status_message == f"step submit_payment ({PAYMENTS}): [STATUS] (401) == 303"
    assert [(s.name, s.status_code) for s in steps] == [
        ("validate_account", 0),
        ("verify_client", 0),
        ("submit_payment", ERROR),
    ]
    assert steps[-1].attributes["error.type"] == "status_mismatch"
    every = json.dumps([[s.attributes, s.events, s.status_message] for s in sink.spans()])
    assert TOKEN_PREFIX not in every
