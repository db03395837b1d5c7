"""The flow kind against real loopback services: an account, a client and a payment service.

The account service issues a token, the client service verifies a client and the payment
service takes the token, answers ``303 See Other`` to where the payment is, keeps an old path
that redirects there, and settles a payment after a few polls. Steps carry values from one
answer to the next request; the run stops at the first failing step and names it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from agent import vocabulary as v
from agent.results import Reason, Result
from tests.agent.probers.conftest import RunProbe
from tests.peers.http_servers import Running, closed_port, serve

ACCOUNT, CLIENT, PAYMENTS = "account/account_service", "client/client_service", "bill_pay/processor"
TOKEN_PREFIX = "tok-3f9a2c71-"  # long enough for the redactor to mask


@dataclass
class Ledger:
    """What the three services share and what they saw, for the assertions."""

    issued: set[str] = field(default_factory=set)
    polls: dict[int, int] = field(default_factory=dict)
    settle_after: int = 3  # polls before a payment is settled
    rejecting: bool = False  # the payment service no longer accepts our account tokens
    seen: dict[str, list[dict[str, str]]] = field(
        default_factory=lambda: {"client": [], "payments": []}
    )


def account_app(ledger: Ledger) -> web.Application:
    numbers = itertools.count(1)

    async def validate(request: web.Request) -> web.Response:
        body = await request.json()
        token = f"{TOKEN_PREFIX}{next(numbers)}"
        ledger.issued.add(token)
        return web.json_response(
            {"valid": True, "account": {"id": body["account"]}, "token": token},
            headers={"X-Request-Id": "req-77"},
        )

    app = web.Application()
    app.router.add_post("/validations", validate)
    return app


def client_app(ledger: Ledger) -> web.Application:
    async def client(request: web.Request) -> web.Response:
        ledger.seen["client"].append(dict(request.headers))
        return web.json_response({"id": request.match_info["id"], "status": "verified"})

    async def hang(_: web.Request) -> web.Response:
        await asyncio.Event().wait()
        raise AssertionError("never answers")

    app = web.Application()
    app.router.add_get("/clients/{id}", client)
    app.router.add_get("/hang", hang)
    return app


def payments_app(ledger: Ledger) -> web.Application:
    ids = itertools.count(100)

    async def submit(request: web.Request) -> web.Response:
        ledger.seen["payments"].append(dict(request.headers))
        token = request.headers.get("X-Account-Token", "")
        if token not in ledger.issued or ledger.rejecting:
            return web.json_response({"error": "account token rejected"}, status=401)
        payment = next(ids)
        ledger.polls[payment] = 0
        raise web.HTTPSeeOther(f"/payments/{payment}")

    async def legacy(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(f"/payments/{request.match_info['id']}")

    async def status(request: web.Request) -> web.Response:
        payment = int(request.match_info["id"])
        ledger.polls[payment] = ledger.polls.get(payment, 0) + 1
        settled = ledger.polls[payment] >= ledger.settle_after
        return web.json_response(
            {"id": payment, "status": "settled" if settled else "pending"},
            headers={"X-Echo-Token": request.headers.get("X-Account-Token", "")},
        )

    app = web.Application()
    app.router.add_post("/payments", submit)
    app.router.add_get("/legacy/payments/{id}", legacy)
    app.router.add_get("/payments/{id}", status)
    return app


@dataclass
class Services:
    account: Running
    client: Running
    payments: Running
    ledger: Ledger

    def steps(self, **changes: dict[str, Any]) -> list[dict[str, Any]]:
        """The pay-a-bill flow; ``changes`` replace settings of the named steps."""
        steps = [
            {
                "name": "validate_account",
                "integration": ACCOUNT,
                "method": "POST",
                "url": self.account.url("/validations"),
                "headers": {"Content-Type": "application/json"},
                "body": '{"account": "1001"}',
                "conditions": ["[STATUS] == 200", "[BODY.valid] == true"],
                "capture": {
                    "account_token": {"json": "token"},
                    "account_id": {"json": "account.id", "public": True},
                    "request_id": {"header": "X-Request-Id", "regex": "req-(\\d+)", "public": True},
                },
            },
            {
                "name": "verify_client",
                "integration": CLIENT,
                "url": self.client.url("/clients/${flow.account_id}"),
                "conditions": ["[BODY.status] == verified"],
                "capture": {"verified": {"status": True, "public": True}},
            },
            {
                "name": "submit_payment",
                "integration": PAYMENTS,
                "method": "POST",
                "url": self.payments.url("/payments"),
                "headers": {"X-Account-Token": "${flow.account_token}"},
                "follow_redirects": False,
                "conditions": ["[STATUS] == 303"],
                "capture": {
                    "payment_id": {
                        "header": "Location",
                        "regex": "/payments/(?P<id>\\d+)",
                        "group": "id",
                        "public": True,
                    },
                },
            },
            {
                "name": "poll_payment",
                "integration": PAYMENTS,
                "url": self.payments.url("/legacy/payments/${flow.payment_id}"),
                "headers": {"X-Account-Token": "${flow.account_token}"},
                "conditions": ["[BODY.status] == settled"],
                "poll": {"every": "20ms", "max_requests": 5},
            },
        ]
        for step in steps:
            step.update(changes.get(step["name"], {}))
        return steps


@pytest.fixture
async def services() -> AsyncIterator[Services]:
    ledger = Ledger()
    async with (
        serve(account_app(ledger)) as a,
        serve(client_app(ledger)) as c,
        serve(payments_app(ledger)) as p,
    ):
        yield Services(a, c, p, ledger)


def series(result: Result) -> dict[tuple[str, tuple[str, ...]], float]:
    return {(item.family.name, item.labels): item.value for item in result.series}


async def test_a_flow_carries_values_from_step_to_step_and_records_each(
    services: Services, run_probe: RunProbe
) -> None:
    result = await run_probe("flow", {"steps": services.steps()})
    assert result.success, result.message
    assert [(s.name, s.integration, s.success) for s in result.steps] == [
        ("validate_account", ACCOUNT, True),
        ("verify_client", CLIENT, True),
        ("submit_payment", PAYMENTS, True),
        ("poll_payment", PAYMENTS, True),
    ]
    validate, verify, submit, poll = result.steps
    assert validate.captured == (
        ("account_token", None),
        ("account_id", "1001"),
        ("request_id", "77"),
    )
    assert verify.captured == (("verified", "200"),)
    assert submit.status == 303 and submit.captured == (("payment_id", "100"),)
    assert (poll.status, poll.requests) == (200, 3)  # pending, pending, settled
    assert all(
        a.started + a.duration <= b.started + 1e-6 for a, b in itertools.pairwise(result.steps)
    )
    (token,) = services.ledger.issued
    assert services.ledger.seen["payments"][0]["X-Account-Token"] == token
    assert series(result)[(v.FLOW_STEP_SUCCESS.name, ("verify_client", CLIENT))] == 1.0
    assert {labels for name, labels in series(result) if name == v.FLOW_STEP_DURATION.name} == {
        ("validate_account",),
        ("verify_client",),
        ("submit_payment",),
        ("poll_payment",),
    }
    assert result.values == () and result.phases == ()


async def test_a_step_that_hangs_uses_up_the_flows_one_deadline_and_is_named(
    services: Services, run_probe: RunProbe
) -> None:
    steps = services.steps(verify_client={"url": services.client.url("/hang")})
    result = await run_probe("flow", {"steps": steps}, timeout=0.5)
    assert (result.success, result.reason) == (False, Reason.TIMEOUT)
    assert result.message == "no answer within 0.5s (during step verify_client, processing)"
    assert result.cause == CLIENT
    assert [(s.name, s.success, s.reason) for s in result.steps] == [
        ("validate_account", True, None),
        ("verify_client", False, Reason.TIMEOUT),
    ]
    assert result.duration < 1.0
    assert services.ledger.seen["payments"] == []  # nothing after the failing step


async def test_a_capture_that_finds_nothing_fails_its_step(
    services: Services, run_probe: RunProbe
) -> None:
    steps = services.steps(
        validate_account={"capture": {"account_token": {"json": "session.token"}}}
    )
    result = await run_probe("flow", {"steps": steps})
    assert (result.reason, result.cause) == (Reason.BODY_MISMATCH, ACCOUNT)
    assert result.message == (
        f"step validate_account ({ACCOUNT}): capture account_token: body has no 'session'"
    )
    assert [s.name for s in result.steps] == ["validate_account"]
    assert services.ledger.seen["client"] == []


async def test_a_partner_down_fails_the_flow_at_its_step_and_takes_the_blame(
    services: Services, run_probe: RunProbe
) -> None:
    down = f"http://127.0.0.1:{closed_port()}/clients/${{flow.account_id}}"
    steps = services.steps(verify_client={"url": down})
    result = await run_probe("flow", {"steps": steps})
    assert (result.reason, result.cause) == (Reason.CONNECT_REFUSED, CLIENT)
    assert result.message == f"step verify_client ({CLIENT}): connection refused"
    assert series(result) == {
        (v.FLOW_STEP_SUCCESS.name, ("validate_account", ACCOUNT)): 1.0,
        (v.FLOW_STEP_DURATION.name, ("validate_account",)): result.steps[0].duration,
        (v.FLOW_STEP_SUCCESS.name, ("verify_client", CLIENT)): 0.0,
        (v.FLOW_STEP_DURATION.name, ("verify_client",)): result.steps[1].duration,
    }


async def test_a_rejected_token_is_named_by_the_step_that_saw_it_and_never_shown(
    services: Services, run_probe: RunProbe
) -> None:
    services.ledger.rejecting = True
    result = await run_probe("flow", {"steps": services.steps()})
    assert (result.reason, result.cause) == (Reason.STATUS_MISMATCH, PAYMENTS)
    assert result.message == f"step submit_payment ({PAYMENTS}): [STATUS] (401) == 303"


async def test_captured_secrets_are_scrubbed_from_every_text_public_ones_are_not(
    services: Services, run_probe: RunProbe
) -> None:
    echo = {"conditions": ["[HEADER.X-Echo-Token] == nothing", "[BODY.id] == 0"]}
    result = await run_probe("flow", {"steps": services.steps(poll_payment=echo)})
    assert not result.success
    texts = [result.message, *(o.observed for s in result.steps for o in s.conditions)]
    assert not any(TOKEN_PREFIX in text for text in texts), texts
    assert "[HEADER.X-Echo-Token] (<redacted>) == nothing" in result.message
    assert "[BODY.id] (100) == 0" in result.message  # the public payment id stays readable


async def test_polling_gives_up_after_its_requests_or_when_time_runs_out(
    services: Services, run_probe: RunProbe
) -> None:
    services.ledger.settle_after = 99
    result = await run_probe("flow", {"steps": services.steps()})
    assert result.reason is Reason.BODY_MISMATCH
    assert result.message == (
        f"step poll_payment ({PAYMENTS}): [BODY.status] (pending) == settled (after 5 requests)"
    )
    slow = {"poll": {"every": "1s", "max_requests": 50}}
    result = await run_probe("flow", {"steps": services.steps(poll_payment=slow)}, timeout=0.8)
    assert result.reason is Reason.BODY_MISMATCH  # said before the deadline, not a timeout
    assert result.steps[-1].requests == 1


async def test_each_step_sends_its_own_trace_context(
    services: Services, run_probe: RunProbe
) -> None:
    run = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    result = await run_probe(
        "flow", {"steps": services.steps()}, trace_headers={"traceparent": run}
    )
    assert result.success
    seen = services.ledger.seen["client"][0]
    assert seen["traceparent"] == run  # untraced steps carry the run's context


async def test_a_secret_is_scrubbed_in_the_form_it_took_in_a_url(run_probe: RunProbe) -> None:
    token = "s3cr3t+t0ken/with=signs"

    async def issue(_: web.Request) -> web.Response:
        return web.json_response({"token": token})

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.path_qs)

    app = web.Application()
    app.router.add_get("/token", issue)
    app.router.add_get("/loop/{rest:.*}", loop)
    async with serve(app) as peer:
        steps = [
            {"name": "issue", "url": peer.url("/token"), "capture": {"token": {"json": "token"}}},
            {"name": "use", "url": peer.url("/loop/${flow.token}?x=1")},
        ]
        result = await run_probe("flow", {"steps": steps})
    assert result.reason is Reason.REDIRECT_LIMIT
    assert (
        result.message
        == f"step use (None): redirect loop back to {peer.url('/loop/<redacted>?x=1')}"
    )
