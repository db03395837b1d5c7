"""End to end: demo integrations -> two agents -> Prometheus (shipped rules) -> Alertmanager
(shipped routing) -> a webhook, all real and on loopback. Only the waiting is shortened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from agent.demo import DemoServices, start_services
from agent.demo.topology import integrations
from tests.alerts.stack import AlertStack, Notification, start_stack
from tests.conftest import StartAgent

# Two sidecars in two zones watch the same integrations: external ones need both (the quorum).
AGENTS = (("zone-a", "eu-west-1a"), ("zone-b", "eu-west-1b"))
FOR = "3s"  # every alert's `for`: long enough to ride out a dependant's sub-second "down"
DEADLINE = 60.0  # seconds from a fault to its notification: ~10 expected, more on a busy machine
QUIET = 4.0  # seconds without a dependant's notification once it is known to be inhibited
DEPENDANTS = ("account_service", "payment_workflow")  # of account/core_ledger


def agent_config(demo: DemoServices, name: str, location: str) -> str:
    """One agent watching the demo's services on their live ports, every second, hysteresis 1/1.

    One health probe per integration, with the topology's owners, criticality, runbooks and
    dependencies: the demo's own config grows probes (capacity, compliance) this test is not
    about, and some of them fail on purpose.
    """
    patterns: dict[str, Any] = {}
    for service in demo.values():
        spec = service.spec
        http: dict[str, Any] = {"url": f"{service.url}/health"}
        if spec.tls:
            http["tls"] = {"ca_file": str(demo.ca_file), "server_name": spec.hostname}
        pattern = patterns.setdefault(spec.pattern, {"integrations": {}})
        pattern["integrations"][spec.name] = {
            "scope": spec.scope,
            "criticality": spec.criticality,
            "owner": spec.owner,
            "runbook": spec.runbook,
            "depends_on": list(spec.depends_on),
            "probes": {"health": {"http": http, "conditions": ["[STATUS] == 200"]}},
        }
    agent = {
        "name": name,
        "location": location,
        "interval": "1s",
        "timeout": "500ms",
        "state": {"failures_to_down": 1, "successes_to_recover": 1},
    }
    return yaml.safe_dump({"agent": agent, "patterns": patterns})


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    """The first truthy result of ``check()``, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout}s")


@dataclass(frozen=True)
class Scene:
    demo: DemoServices
    stack: AlertStack


@pytest.fixture
async def scene(tmp_path: Path, start_agent: StartAgent) -> AsyncIterator[Scene]:
    demo = await start_services(tmp_path / "demo")
    session = aiohttp.ClientSession()
    try:
        agents = [await start_agent(agent_config(demo, *agent)) for agent in AGENTS]
        for agent in agents:
            await agent.wait_ready()
        targets = [agent.base.removeprefix("http://") for agent in agents]
        stack = await start_stack(session, tmp_path, targets, for_=FOR)
        try:
            async with stack.explained():
                await eventually(lambda: _watching(stack), 20, "Prometheus sees both agents")
            yield Scene(demo, stack)
        finally:
            await stack.stop()
    finally:
        await session.close()
        await demo.stop()


async def _watching(stack: AlertStack) -> bool:
    """Both agents scraped, every integration ok for both, the lookups recorded."""
    every = integrations()
    ok = await stack.query('count(oversight_integration_state{state="ok"} == 1)')
    quorum = await stack.query("pattern_integration:oversight_agents:quorum == 2")
    return (
        bool(ok)
        and ok[0]["value"][1] == str(len(AGENTS) * len(every))
        and len(quorum) == sum(i.scope == "external" for i in every)
    )


# Alerts about what an integration is (its compliance, its capacity) rather than whether it
# works: a dependency's outage does not explain them, so inhibition rightly leaves them alone.
NOT_HEALTH = (
    "OversightCompliance",
    "OversightSecurity",
    "OversightCapacity",
    "OversightCredential",
)


def _about_health(n: Notification) -> bool:
    return not n.alert["labels"]["alertname"].startswith(NOT_HEALTH)


def _down(integration: str) -> Callable[[Notification], bool]:
    def match(n: Notification) -> bool:
        labels = n.alert["labels"]
        return (
            n.alert["status"] == "firing"
            and labels["alertname"] == "OversightIntegrationDown"
            and labels["integration"] == integration
        )

    return match


async def test_partner_down_pages_on_call_and_its_owner(scene: Scene) -> None:
    stack = scene.stack
    async with stack.explained():
        await scene.demo["bill_pay/payment_processor"].update(down=True)
        down = _down("payment_processor")
        page = await stack.webhook.wait_for(
            lambda n: n.receiver == "pager" and down(n),
            DEADLINE,
            "of payment_processor down to the pager",
        )
        labels, annotations = page.alert["labels"], page.alert["annotations"]
        assert {
            k: labels.get(k)
            for k in (
                "severity",
                "pattern",
                "integration",
                "scope",
                "owner",
                "criticality",
                "root_cause",
                "cause",
            )
        } == {
            "severity": "page",
            "pattern": "bill_pay",
            "integration": "payment_processor",
            "scope": "external",
            "owner": "team-payments-partners",
            "criticality": "critical",
            "root_cause": "bill_pay/payment_processor",
            "cause": "self",
        }
        assert "agent" not in labels  # one alert for the partner: both agents agree
        assert annotations["runbook_url"] == (
            "https://runbooks.example.com/bill_pay/payment_processor"
        )
        assert annotations["dashboard_url"].endswith(
            "/d/oversight-integration/integration?var-pattern=bill_pay"
            "&var-integration=payment_processor"
        )
        assert annotations["description"].endswith("agents that see it down: 2.")
        # the owning team hears of it too (the page route continues to the urgent channel)
        await stack.webhook.wait_for(
            lambda n: n.receiver == "team-payments-partners-urgent" and down(n),
            10,
            "of payment_processor down to team-payments-partners-urgent",
        )
        assert {n.receiver for n in stack.webhook.matching(down)} == {
            "pager",
            "team-payments-partners-urgent",
        }
        assert (
            len({tuple(sorted(n.alert["labels"].items())) for n in stack.webhook.matching(down)})
            == 1
        )


async def test_dependency_down_notifies_only_the_root_cause(scene: Scene) -> None:
    stack = scene.stack
    async with stack.explained():
        await scene.demo["account/core_ledger"].update(down=True)
        page = await stack.webhook.wait_for(
            lambda n: n.receiver == "pager" and _down("core_ledger")(n),
            DEADLINE,
            "of core_ledger down to the pager",
        )
        assert page.alert["labels"]["owner"] == "team-core-banking"
        assert page.alert["annotations"]["runbook_url"] == (
            "https://runbooks.example.com/account/core_ledger"
        )

        # The dependants fail too (their health checks answer 503), but the agents call them
        # impacted: their alerts reach Alertmanager with the ledger as root cause and are
        # inhibited: the pages by the ledger's own alerts, the rest by those or by a page of
        # the same integration (a higher severity mutes a lower one).
        held = [
            alert
            for integration in DEPENDANTS
            for alert in await eventually(
                partial(_inhibited, stack, integration),
                DEADLINE,
                f"{integration}'s alerts held and inhibited",
            )
        ]
        every = {a["fingerprint"]: a["labels"] for a in await stack.alertmanager_alerts()}
        for alert in held:
            labels, status = alert["labels"], alert["status"]
            assert (labels["root_cause"], labels["cause"]) == ("account/core_ledger", "dependency")
            assert status["state"] == "suppressed"
            inhibitors = [every[fingerprint] for fingerprint in status["inhibitedBy"]]
            assert all(i["root_cause"] == "account/core_ledger" for i in inhibitors), inhibitors
            if labels["severity"] == "page":
                assert all(i["integration"] == "core_ledger" for i in inhibitors), inhibitors

        await asyncio.sleep(QUIET)
        leaked = stack.webhook.matching(
            lambda n: (
                n.alert["labels"].get("integration") in DEPENDANTS
                and n.receiver != "tickets"
                and _about_health(n)
            )
        )
        assert leaked == [], "a dependant reached a pager or team channel"
        assert all(
            n.alert["labels"]["integration"] == "core_ledger"
            for n in stack.webhook.received
            if n.receiver == "pager"
        )


async def _inhibited(stack: AlertStack, integration: str) -> list[dict[str, Any]] | None:
    """The integration's alerts in Alertmanager once it holds, from every agent, the impacted
    alert and the fast burn-rate page, and every one of them is inhibited; None before."""
    alerts = [
        a
        for a in await stack.alertmanager_alerts(integration=integration)
        if not a["labels"]["alertname"].startswith(NOT_HEALTH)
    ]
    names = [a["labels"]["alertname"] for a in alerts]
    pages = [a for a in alerts if a["labels"]["severity"] == "page"]
    if (
        names.count("OversightIntegrationImpacted") < len(AGENTS)
        or len(pages) < len(AGENTS)
        or not all(a["status"]["inhibitedBy"] for a in alerts)
    ):
        return None
    return alerts
