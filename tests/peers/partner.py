"""A partner API for compliance tests that can leak, skip auth and drop headers, and plans
built from YAML, probed once the way the agent probes. Its fixtures are in tests/conftest.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from agent.config.loader import load_config_text
from agent.evaluation.compliance import ComplianceEvaluator, ComplianceView
from agent.plan import Plan
from agent.planning import build_plan
from agent.results import Result
from agent.runner import run_once
from tests.peers.http_servers import Running, serve
from tests.peers.tls_servers import TlsPki

CARD = "4111 1111 1111 1111"  # a Luhn-valid test card number
TOKEN = "s3cret-token"
SECURE = {"Strict-Transport-Security": "max-age=63072000", "X-Content-Type-Options": "nosniff"}


def partner_app() -> web.Application:
    """``/ok`` (JSON, secure headers), ``/bare`` (no security headers), ``/leak`` (a card
    number), ``/open`` and ``/locked`` (want ``Bearer s3cret-token``; ``/open`` serves anyway),
    ``/balance`` (``available`` as a string), ``/status/{code}``, ``/text``."""

    async def ok(_: web.Request) -> web.Response:
        return web.json_response({"id": "pay_1", "status": "accepted"}, headers=SECURE)

    async def bare(_: web.Request) -> web.Response:
        return web.json_response({"status": "UP"})

    async def leak(_: web.Request) -> web.Response:
        body = {"customer": "Ada", "card": CARD, "ssn": "123-45-6789"}
        return web.json_response(body, headers=SECURE)

    def guarded(enforce: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            if enforce and request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.json_response({"error": "unauthorized"}, status=401, headers=SECURE)
            return web.json_response({"id": "acct_9", "owner": "Ada"}, headers=SECURE)

        return handle

    async def balance(_: web.Request) -> web.Response:
        return web.json_response({"currency": "USD", "available": "1520.00"}, headers=SECURE)

    async def status(request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        return web.json_response({"code": code}, status=code, headers=SECURE)

    async def text(_: web.Request) -> web.Response:
        return web.Response(text="plain words", headers=SECURE)

    app = web.Application()
    app.router.add_route("*", "/ok", ok)
    app.router.add_get("/bare", bare)
    app.router.add_get("/leak", leak)
    app.router.add_get("/open", guarded(False))
    app.router.add_get("/locked", guarded(True))
    app.router.add_get("/balance", balance)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/text", text)
    return app


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsPki:
    return TlsPki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def partner() -> AsyncIterator[Running]:
    """The partner over plain HTTP."""
    async with serve(partner_app()) as running:
        yield running


@pytest.fixture
async def secure_partner(pki: TlsPki) -> AsyncIterator[Running]:
    """The partner over HTTPS with a valid certificate (TLS 1.3 allowed)."""
    async with serve(partner_app(), ssl_context=pki.server_context("valid")) as running:
        yield running


def config(integrations: str, top: str = "", pattern: str = "") -> str:
    """A config with one pattern ``p`` holding ``integrations`` (YAML at 6 spaces)."""
    return f"{top}patterns:\n  p:\n    owner: team-p\n{pattern}    integrations:\n{integrations}"


def plan_of(text: str) -> Plan:
    return build_plan(load_config_text(text, name="oversight.yaml"))


async def run_all(plan: Plan) -> dict[str, Result]:
    """Every probe once, with its policies, as the agent runs it."""
    return await run_once(plan)


async def judge(text: str) -> tuple[Plan, dict[str, Result], ComplianceView]:
    plan = plan_of(text)
    results = await run_all(plan)
    evaluator = ComplianceEvaluator(plan, results, 0.0)
    for result in results.values():
        evaluator.observe(result, result.started)
    return plan, results, evaluator.view()


def status_of(view: ComplianceView, key: str, policy: str) -> tuple[str, str]:
    check = next(c for c in view.checks if c.key == key and c.policy == policy)
    return check.status.value, check.reason


def write(path: Path, document: object) -> str:
    path.write_text(json.dumps(document))
    return str(path)
