"""The demo's agent config: valid, on the live ports, and the probers see each fault through it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from agent.config.loader import load_config_text
from agent.config.models import Config, ProbeCommon
from agent.demo import DemoServices
from agent.demo.topology import integrations
from agent.planning import build_plan
from agent.runner import run_once

KEYS = [i.key for i in integrations()]
EXTERNAL = [i.key for i in integrations() if i.scope == "external"]
# business endpoints and their auth checks: tested in tests/agent/demo/test_compliance.py
BUSINESS = {
    "bill_pay/payment_processor/payments",
    "bill_pay/payment_processor/payments.auth_check",
    "bill_pay/biller_network/billers",
    "account/core_ledger/balance",
    "account/core_ledger/balance.auth_check",
    "client/kyc_vendor/verify",
    "client/kyc_vendor/verify.auth_check",
}
FLOWS = {"bill_pay/payment_workflow/pay_bill"}  # tested below and in the flow's own test
SIDECAR = tuple(f"account/account_service/{name}" for name in ("node", "node_cpu", "process"))
CAPACITY = {
    "bill_pay/payment_workflow/pool",
    *SIDECAR,
    "bill_pay/payment_processor/client_cert",
    "client/kyc_vendor/api_token",
}


def kind_of(probe: ProbeCommon) -> str:
    return probe.kind


async def test_config_yaml_names_every_integration_on_its_live_port(demo: DemoServices) -> None:
    data = yaml.safe_load(demo.config_yaml(listen="127.0.0.1:9555"))
    assert data["agent"]["listen"] == "127.0.0.1:9555"
    seen = {
        f"{pattern}/{name}": block
        for pattern, p in data["patterns"].items()
        for name, block in p["integrations"].items()
    }
    assert sorted(seen) == sorted(KEYS)
    for key, block in seen.items():
        service = demo[key]
        health = block["probes"]["health"]
        assert health["http"]["url"] == f"{service.url}/health"
        assert health["conditions"] == ["[STATUS] == 200", "[BODY.status] == UP"]
        quota = {"utilisation": {"warning": "80%", "critical": "95%"}}  # rate-limit headers
        assert health["thresholds"] == {"latency": {"warning": "250ms", "critical": "1s"}} | (
            quota if service.spec.rate_limit else {}
        )
        assert (health["interval"], health["timeout"]) == ("5s", "2s")
        if key in EXTERNAL:
            tls = {"ca_file": str(demo.ca_file), "server_name": service.spec.hostname}
            assert health["http"]["tls"] == tls
            assert block["probes"]["cert"]["tls"] == {
                "address": f"127.0.0.1:{service.port}",
                "server_name": service.spec.hostname,
                "tls": {"ca_file": str(demo.ca_file)},
            }
            assert block["probes"]["cert"]["thresholds"] == {
                "cert_expiry": {"warning": "30d", "critical": "7d"}
            }
        assert block["runbook"] == service.spec.runbook
        assert block["owner"] == service.spec.owner
    ledger = seen["account/core_ledger"]["probes"]["line"]
    assert ledger["tcp"] == {
        "address": f"127.0.0.1:{demo['account/core_ledger'].line_port}",
        "send": "PING\n",
    }
    assert "listen" not in yaml.safe_load(demo.config_yaml())["agent"]


async def test_config_yaml_is_a_valid_agent_config(demo: DemoServices) -> None:
    config = Config.model_validate(yaml.safe_load(demo.config_yaml()))
    assert list(config.patterns) == ["bill_pay", "account", "client"]
    workflow = config.patterns["bill_pay"].integrations["payment_workflow"]
    assert workflow.depends_on == ("account/account_service", "client/client_service")
    kinds = {
        (f"{p}/{i}", name): kind_of(probe)
        for p, pattern in config.patterns.items()
        for i, integration in pattern.integrations.items()
        for name, probe in integration.probes.items()
    }
    assert kinds[("account/core_ledger", "line")] == "tcp"
    assert kinds[("client/kyc_vendor", "cert")] == "tls"
    assert set(kinds.values()) == {
        "http",
        "tcp",
        "tls",
        "scrape",
        "host",
        "process",
        "credential",
        "flow",
    }
    sidecar = {p: kinds[("account/account_service", p)] for p in ("node", "node_cpu", "process")}
    assert sidecar == {"node": "host", "node_cpu": "host", "process": "process"}


async def probe_everything(demo: DemoServices) -> dict[str, tuple[str | None, set[str]]]:
    """Every probe of the demo config once, as the agent runs it: id -> (reason, breaches)."""
    plan = build_plan(load_config_text(demo.config_yaml(), name="demo.yaml"))
    seen: dict[str, tuple[str | None, set[str]]] = {}
    for probe_id, result in (await run_once(plan)).items():
        breaches = {f"{b.signal} {b.severity.value}" for b in result.breaches}
        seen[probe_id] = (result.reason.value if result.reason else None, breaches)
    return seen


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        ({}, {}),
        (
            {"bill_pay/payment_processor": {"latency": 0.4}},
            {"bill_pay/payment_processor/health": (None, "latency")},
        ),
        (
            {"account/core_ledger": {"status": 503}},
            {
                "account/core_ledger/health": ("status_mismatch", ""),
                "account/core_ledger/line": ("body_mismatch", ""),
                "account/account_service/health": ("status_mismatch", ""),
                "bill_pay/payment_workflow/health": ("status_mismatch", ""),
            },
        ),
        (
            {"account/core_ledger": {"down": True}},
            {
                "account/core_ledger/health": ("connect_refused", ""),
                "account/core_ledger/cert": ("connect_refused", ""),
                "account/core_ledger/line": ("connect_refused", ""),
                "account/account_service/health": ("status_mismatch", ""),
                "bill_pay/payment_workflow/health": ("status_mismatch", ""),
            },
        ),
        (
            {"client/kyc_vendor": {"near_expiry": True}},
            {"client/kyc_vendor/cert": (None, "cert_expiry critical")},
        ),
        (
            {"bill_pay/payment_workflow": {"pool_leak": 1e6}},  # full at once
            {"bill_pay/payment_workflow/pool": (None, "utilisation:pool:db critical")},
        ),
    ],
    ids=["healthy", "slow", "503", "down", "near-expiry", "pool-leak"],
)
async def test_the_agent_sees_each_fault_through_the_config(
    demo: DemoServices,
    faults: dict[str, dict[str, Any]],
    expected: dict[str, tuple[str | None, str]],
) -> None:
    for key, changes in faults.items():
        await demo[key].update(**changes)
    seen = await probe_everything(demo)
    # health everywhere, cert on 4 external, 1 line, and capacity: pool, node (2), process, creds
    assert len(seen) == 2 * len(KEYS) - 3 + 1 + len(CAPACITY) + len(BUSINESS) + len(FLOWS)
    assert seen.keys() >= CAPACITY | FLOWS
    for probe_id, (reason, breaches) in seen.items():
        if probe_id in BUSINESS | FLOWS:
            continue
        want_reason, want_breach = expected.get(probe_id, (None, ""))
        assert reason == want_reason, probe_id
        # Only the injected breach is asserted: a loaded machine may add a latency warning,
        # and the node's and process's readings are this machine's own.
        assert all(
            b.startswith("latency") or probe_id.startswith(SIDECAR)
            for b in breaches - {want_breach}
        ), probe_id
        if want_breach:
            assert any(b.startswith(want_breach) for b in breaches), (probe_id, breaches)
