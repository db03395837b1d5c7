"""The demo's flow: pay a bill across the three patterns, as the payment workflow does it.

Validate the account (account pattern: the account service issues an account token), verify
the client (client pattern), submit the payment with that token and poll it until it settles
(bill_pay: the payment processor). The token is captured as a secret; the account and
payment ids are public. When the account service signs tokens with a key the processor does
not know (the ``stale_tokens`` fault), every health check stays green and this flow alone
fails, at the processor's step.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from agent.demo.contracts import token_path
from agent.demo.topology import IntegrationSpec

OWNER = "bill_pay/payment_workflow"
ACCOUNT, CLIENT, PROCESSOR = (
    "account/account_service",
    "client/client_service",
    "bill_pay/payment_processor",
)
INTERVAL, TIMEOUT = "5s", "4s"
LATENCY = {"warning": "1s", "critical": "3s"}


class Live(Protocol):
    spec: IntegrationSpec
    port: int


def flow_probes(live: Mapping[str, Live], ca_file: str, workdir: Path) -> dict[str, Any]:
    """``{integration key: {probe name: probe}}`` for the flows whose services all run."""
    if not all(key in live for key in (OWNER, ACCOUNT, CLIENT, PROCESSOR)):
        return {}
    return {OWNER: {"pay_bill": pay_bill(live, ca_file, workdir)}}


def pay_bill(live: Mapping[str, Live], ca_file: str, workdir: Path) -> dict[str, Any]:
    def base(key: str) -> str:
        service = live[key]
        return f"{'https' if service.spec.tls else 'http'}://127.0.0.1:{service.port}"

    processor = live[PROCESSOR].spec
    partner = {
        "bearer_token_file": str(token_path(workdir)),
        "tls": {"ca_file": ca_file, "server_name": processor.hostname},
    }
    json = {"Content-Type": "application/json"}
    steps = [
        {
            "name": "validate_account",
            "integration": ACCOUNT,
            "method": "POST",
            "url": f"{base(ACCOUNT)}/v1/validations",
            "headers": json,
            "body": '{"account_id": "1001", "purpose": "bill_payment"}',
            "conditions": ["[STATUS] == 200", "[BODY.valid] == true"],
            "capture": {
                "account_token": {"json": "account_token"},
                "account_id": {"json": "account.id", "public": True},
            },
        },
        {
            "name": "verify_client",
            "integration": CLIENT,
            "url": f"{base(CLIENT)}/v1/clients/1001",
            "conditions": ["[STATUS] == 200", "[BODY.status] == verified"],
        },
        {
            "name": "submit_payment",
            "integration": PROCESSOR,
            "method": "POST",
            "url": f"{base(PROCESSOR)}/v1/payments",
            "headers": {**json, "X-Account-Token": "${flow.account_token}"},
            "body": '{"account_id": "${flow.account_id}", "biller": "ELEC-001", "amount": "42.50"}',
            "conditions": ["[STATUS] == 201", "[BODY.status] == accepted"],
            "capture": {"payment_id": {"json": "id", "public": True}},
            **partner,
        },
        {
            "name": "poll_payment",
            "integration": PROCESSOR,
            "url": f"{base(PROCESSOR)}/v1/payments/${{flow.payment_id}}",
            "conditions": ["[STATUS] == 200", "[BODY.status] == settled"],
            "poll": {"every": "150ms", "max_requests": 10},
            **partner,
        },
    ]
    return {
        "interval": INTERVAL,
        "timeout": TIMEOUT,
        "thresholds": {"latency": dict(LATENCY)},
        "flow": {"steps": steps},
    }
