"""The series budget (docs/metrics.md, "Series budget"), counted from a real agent's /metrics.

One agent runs a probe of every kind against real loopback peers (the scenarios of
tests/agent/probers/test_registry.py, which make each kind record all it can: TLS, quotas,
capacity, SOA serials), with the thresholds that apply to it, compliance on, dependencies, and
the HTTPS probe failing for one reason after a full exchange (the most a probe records). Every
probe adds at most 20 series of its own, plus 2 for each threshold signal configured on it and
3 (used, limit, utilisation) for each resource whose capacity it reads; every integration's own
series (labelled with it, without a probe) are at most 12.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.probers import REGISTRY
from tests.agent.probers.test_registry import SCENARIOS
from tests.conftest import StartAgent
from tests.peers.tls_servers import TlsPki

PROBE_BUDGET = 20
INTEGRATION_BUDGET = 12

# Where each kind's integration lives, and its scope: a probe a kind, an integration a probe.
PLACES = {
    "http": ("bill_pay", "external"),
    "tcp": ("bill_pay", "internal"),
    "grpc": ("bill_pay", "internal"),
    "tls": ("account", "external"),
    "dns": ("account", "external"),
    "scrape": ("account", "internal"),
    "host": ("client", "internal"),
    "process": ("client", "internal"),
    "credential": ("client", "internal"),
    "flow": ("bill_pay", "external"),
    "command": ("client", "internal"),
}
LEVELS = {
    "latency": {"warning": "300ms", "critical": "1s"},
    "cert_expiry": {"warning": "30d", "critical": "7d"},
    "utilisation": {"warning": "80%", "critical": "95%"},
    "credential_expiry": {"warning": "30d", "critical": "7d"},
}
THRESHOLD_FAMILIES = {
    "oversight_probe_latency_threshold_seconds",
    "oversight_probe_cert_expiry_threshold_seconds",
    "oversight_probe_utilisation_threshold_ratio",
    "oversight_probe_credential_expiry_threshold_seconds",
}
CAPACITY_FAMILIES = {
    "oversight_capacity_used",
    "oversight_capacity_limit",
    "oversight_capacity_utilisation_ratio",
}
# The thresholds a probe of each kind can breach.
SIGNALS = {
    "http": ("latency", "cert_expiry"),
    "tcp": ("latency", "cert_expiry"),
    "tls": ("latency", "cert_expiry"),
    "dns": ("latency",),
    "grpc": ("latency",),
    "scrape": ("latency", "utilisation"),
    "host": ("utilisation",),
    "process": ("utilisation",),
    "credential": ("credential_expiry",),
    "flow": ("latency",),
    "command": ("latency",),
}
# The https partner depends on two others: one series each.
DEPENDS_ON = {"http": ["bill_pay/tcp", "account/dns"]}
STATUSES = ("pass", "fail", "not_applicable")  # of a pattern's compliance checks
# The HTTPS probe fails on its status after a full exchange: every value, its TLS details and
# its one failure reason.
FAILING = {"http": ["[STATUS] == 204"]}


def config(settings: dict[str, dict[str, Any]]) -> str:
    patterns: dict[str, Any] = {}
    for kind, (pattern, scope) in PLACES.items():
        probe = {
            "interval": "60s",
            "timeout": "3s",
            kind: settings[kind],
            "thresholds": {signal: LEVELS[signal] for signal in SIGNALS[kind]},
        }
        integration: dict[str, Any] = {"scope": scope, "probes": {kind: probe}}
        if kind in FAILING:
            probe["conditions"] = FAILING[kind]
        if kind in DEPENDS_ON:
            integration["depends_on"] = DEPENDS_ON[kind]
        integrations = patterns.setdefault(pattern, {"integrations": {}})["integrations"]
        integrations[kind] = integration
    agent = {"labels": {"cluster": "budget"}}  # and the default settings: no histograms
    document = {"agent": agent, "compliance": {"enabled": True}, "patterns": patterns}
    return yaml.safe_dump(document)


@pytest.fixture
async def peers(tmp_path: Path) -> AsyncIterator[dict[str, dict[str, Any]]]:
    """Every kind's peers, running, and the settings of a probe of each."""
    (tmp_path / "pki").mkdir()
    pki = TlsPki.create(tmp_path / "pki")
    async with AsyncExitStack() as stack:
        yield {kind: await scenario(stack, tmp_path, pki) for kind, scenario in SCENARIOS.items()}


Key = tuple[str, str, str]  # pattern, integration, probe


async def test_every_probe_and_integration_keeps_to_its_budget(
    start_agent: StartAgent, peers: dict[str, dict[str, Any]]
) -> None:
    assert set(PLACES) == set(REGISTRY), "a new kind joins the budget test"
    agent = await start_agent(config(peers))
    await agent.wait_ready()
    probes = {(pattern, kind, kind): kind for kind, (pattern, _) in PLACES.items()}
    for pattern, integration, probe in probes:
        await agent.wait_result(f"{pattern}/{integration}/{probe}")
    scraped = await agent.metrics()

    total: Counter[Key] = Counter()
    thresholds: Counter[Key] = Counter()
    capacity: Counter[Key] = Counter()
    resources: dict[Key, set[str]] = {key: set() for key in probes}
    per_integration: Counter[tuple[str, str]] = Counter()
    for name, labels in scraped:
        label = dict(labels)
        if "probe" in label:
            key = (label["pattern"], label["integration"], label["probe"])
            total[key] += 1
            thresholds[key] += name in THRESHOLD_FAMILIES
            if name in CAPACITY_FAMILIES:
                capacity[key] += 1
                resources[key].add(label["resource"])
        elif "integration" in label:
            assert label.keys() >= {"pattern", "scope"}, label
            per_integration[label["pattern"], label["integration"]] += 1

    assert set(total) == set(probes), sorted(total)
    assert set(per_integration) == {(p, k) for k, (p, _) in PLACES.items()}
    own = {key: total[key] - thresholds[key] - capacity[key] for key in probes}
    for key, kind in probes.items():
        assert thresholds[key] == 2 * len(SIGNALS[kind]), (key, thresholds[key])
        assert capacity[key] <= 3 * len(resources[key]), (key, capacity[key], resources[key])
    over = {key: n for key, n in own.items() if n > PROBE_BUDGET}
    assert not over, f"probes over {PROBE_BUDGET} series of their own: {over} (all: {own})"
    over_i = {key: n for key, n in per_integration.items() if n > INTEGRATION_BUDGET}
    assert not over_i, f"integrations over {INTEGRATION_BUDGET}: {over_i} ({dict(per_integration)})"
    # The failing HTTPS probe is the budget's worst case, exactly: 19 of its own and a failure
    # reason; its two threshold signals and the request quota its partner announces on top.
    https = ("bill_pay", "http", "http")
    assert own[https] == PROBE_BUDGET == max(own.values())
    assert (thresholds[https], capacity[https], resources[https]) == (4, 3, {"quota:requests"})

    def names(key: Key) -> Counter[str]:
        pattern, integration, probe = key
        wanted = {("pattern", pattern), ("integration", integration), ("probe", probe)}
        return Counter(name for name, labels in scraped if wanted <= labels)

    # One failure reason, of the one failing probe; the others have no failures series at all.
    failures = {
        (dict(labels)["probe"], dict(labels)["reason"]): value
        for (name, labels), value in scraped.items()
        if name == "oversight_probe_failures_total"
    }
    assert failures == {("http", "status_mismatch"): 1.0}
    # The run-duration histogram is opt-in; http's resolve time is its resolve phase only.
    assert not any(name.startswith("oversight_probe_duration_seconds") for name, _ in scraped)
    assert names(https)["probe_http_duration_seconds"] == 5
    assert names(https)["probe_dns_lookup_time_seconds"] == 0
    assert names(("bill_pay", "tcp", "tcp"))["probe_dns_lookup_time_seconds"] == 1

    # An integration's state is one series (root_cause empty but while impacted); compliance
    # names the checks an integration fails (the https partner sends no security headers) and
    # counts the rest per pattern.
    states = {
        dict(labels)["integration"]: (dict(labels)["state"], dict(labels)["root_cause"])
        for name, labels in scraped
        if name == "oversight_integration_state"
    }
    assert len(states) == len(PLACES) and states["http"] == ("down", "")
    failing_checks = {
        (dict(labels)["integration"], dict(labels)["policy"])
        for name, labels in scraped
        if name == "oversight_compliance_failing"
    }
    assert ("http", "security_headers") in failing_checks
    # An integration's own: info, objective, state, since, flapping, then a series per direct
    # dependency and per failing check.
    for (_, integration), count in per_integration.items():
        dependencies = len(DEPENDS_ON.get(integration, ()))
        failing = len([1 for name, _ in failing_checks if name == integration])
        assert count == 5 + dependencies + failing, (integration, count)
    checks = {
        (dict(labels)["pattern"], dict(labels)["status"])
        for name, labels in scraped
        if name == "oversight_compliance_checks"
    }
    assert checks == {(p, s) for p in ("bill_pay", "account", "client") for s in STATUSES}
