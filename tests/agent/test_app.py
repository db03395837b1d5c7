"""The App end to end on loopback: probes run, /metrics and the status API tell the truth,
reload swaps only a valid config, readiness speaks of the agent alone."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import weakref
from pathlib import Path

import pytest

import agent.app
from agent.app import App
from tests.conftest import StartAgent, sample
from tests.peers.http_servers import serve
from tests.peers.leaky import leaky_app

CONFIG = """\
agent:
  labels: {{cluster: test}}
patterns:
  account:
    owner: accounts-team
    integrations:
      ledger:
        scope: external
        criticality: critical
        runbook: https://runbooks.example.com/ledger
        probes:
          port:
            interval: 60s
            timeout: 1s
            tcp: {{address: "{up}"}}
      account_service:
        scope: internal
        owner: account-sre
        depends_on: [account/ledger]
        probes:
          port:
            interval: 60s
            timeout: 1s
            tcp: {{address: "{down}"}}
"""


async def test_metrics_and_status_after_the_first_round(
    start_agent: StartAgent, tcp_server: str, closed_port: str
) -> None:
    agent = await start_agent(CONFIG.format(up=tcp_server, down=closed_port))
    await agent.wait_ready()
    m = await agent.metrics()
    ledger = {"pattern": "account", "integration": "ledger", "scope": "external", "probe": "port"}
    service = {"pattern": "account", "integration": "account_service", "scope": "internal"}
    assert sample(m, "probe_success", **ledger, cluster="test") == 1.0
    assert sample(m, "probe_success", **service) == 0.0
    assert sample(m, "oversight_probe_runs_total", **ledger) == 1.0
    assert sample(m, "oversight_probe_failures_total", **ledger) is None  # none failed
    assert sample(m, "oversight_probe_runs_total", **service) == 1.0
    assert sample(m, "oversight_probe_failures_total", **service, reason="connect_refused") == 1.0
    assert sample(m, "oversight_probe_phase_duration_seconds", **ledger, phase="connect") > 0
    # one series for an integration's state, the current one's; root_cause empty unless impacted
    states = {
        dict(labels)["integration"]: (dict(labels)["state"], dict(labels)["root_cause"], value)
        for (name, labels), value in m.items()
        if name == "oversight_integration_state"
    }
    assert states == {"account_service": ("down", "", 1.0), "ledger": ("ok", "", 1.0)}
    assert (
        sample(
            m,
            "oversight_integration_info",
            integration="account_service",
            owner="account-sre",
            criticality="medium",
        )
        == 1.0
    )
    assert (
        sample(
            m,
            "oversight_integration_info",
            integration="ledger",
            owner="accounts-team",
            runbook="https://runbooks.example.com/ledger",
        )
        == 1.0
    )
    deps = sample(
        m,
        "oversight_integration_depends_on",
        integration="account_service",
        dependency="account/ledger",
    )
    assert deps == 1.0
    assert sample(m, "oversight_integration_depends_on", integration="ledger") is None
    info = {"kind": "tcp", "target": f"tcp://{tcp_server}", "interval": "60"}
    assert sample(m, "oversight_probe_info", **ledger, **info) == 1.0
    # the run-duration histogram is opt-in (agent.histograms): the last run's gauge says it
    assert sample(m, "oversight_probe_duration_seconds_count", **ledger) is None
    duration = sample(m, "probe_duration_seconds", **ledger)
    assert duration is not None and 0 < duration < 1
    assert sample(m, "oversight_probes_configured", kind="tcp") == 2.0
    assert sample(m, "oversight_agent_ready") == 1.0
    assert sample(m, "oversight_config_last_reload_successful") == 1.0
    assert sample(m, "oversight_scheduler_lag_seconds_count") == 2.0

    status, body = await agent.get("/api/v1/status")
    doc = json.loads(body)
    integrations = doc["patterns"]["account"]["integrations"]
    assert status == 200 and doc["agent"]["ready"] is True
    assert integrations["ledger"]["state"] == "ok"
    assert integrations["account_service"]["state"] == "down"
    assert integrations["account_service"]["depends_on"] == ["account/ledger"]
    latest = integrations["account_service"]["probes"]["port"]["latest"]
    assert latest["reason"] == "connect_refused" and latest["success"] is False
    assert doc["summary"] == {"ok": 1, "degraded": 0, "down": 1, "impacted": 0, "unknown": 0}

    status, page = await agent.get("/")
    assert status == 200 and "account_service" in page and "connect_refused" in page


async def test_a_sharded_agent_runs_and_shows_only_its_share(
    start_agent: StartAgent, tcp_server: str, closed_port: str
) -> None:
    """Shard 0 of 2 holds account_service's probe (agent/sharding.py's owner), not the
    ledger's: the ledger has no series here, the service is down on this shard's word (its
    dependency is another shard's), and build_info and the status API name the shard."""
    sharded = CONFIG.replace("  labels: {{cluster: test}}", "  shard: {{index: 0, total: 2}}")
    agent = await start_agent(sharded.format(up=tcp_server, down=closed_port))
    await agent.wait_ready()
    assert set(agent.app.plan.probes) == {"account/account_service/port"}
    m = await agent.metrics()
    assert sample(m, "oversight_build_info", shard="0/2") == 1.0
    integrations = {dict(ls).get("integration") for (_, ls) in m if ("integration", "") not in ls}
    assert integrations - {None} == {"account_service"}
    state = {"integration": "account_service", "state": "down", "root_cause": ""}
    assert sample(m, "oversight_integration_state", **state) == 1.0
    assert sample(m, "oversight_integration_depends_on", dependency="account/ledger") == 1.0
    assert sample(m, "oversight_probes_configured", kind="tcp") == 1.0
    _, body = await agent.get("/api/v1/status")
    doc = json.loads(body)
    assert doc["agent"]["shard"] == {"index": 0, "total": 2, "probes": 1, "integrations": 1}
    assert list(doc["patterns"]["account"]["integrations"]) == ["account_service"]
    _, page = await agent.get("/")
    assert "shard 0/2 (1 probe)" in page


async def test_an_agent_that_is_not_sharded_says_so(
    start_agent: StartAgent, tcp_server: str, closed_port: str
) -> None:
    agent = await start_agent(CONFIG.format(up=tcp_server, down=closed_port))
    m = await agent.metrics()
    (labels,) = [dict(ls) for (name, ls) in m if name == "oversight_build_info"]
    assert labels["shard"] == ""
    _, body = await agent.get("/api/v1/status")
    assert json.loads(body)["agent"]["shard"] is None


async def test_openmetrics_is_served_when_asked_for(
    start_agent: StartAgent, tcp_server: str, closed_port: str
) -> None:
    agent = await start_agent(CONFIG.format(up=tcp_server, down=closed_port))
    await agent.wait_ready()
    status, text = await agent.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert status == 200
    assert text.rstrip().endswith("# EOF")
    assert "oversight_probe_runs_total{" in text


async def test_readiness_ignores_the_integrations_it_watches(
    start_agent: StartAgent, closed_port: str
) -> None:
    agent = await start_agent(CONFIG.format(up=closed_port, down=closed_port))
    await agent.wait_ready()  # every integration is down, the agent is still ready
    m = await agent.metrics()
    assert sample(m, "oversight_integration_state", integration="ledger", state="down") == 1.0
    # its dependant fails too, but the root cause is the ledger: impacted, and named
    service = {"integration": "account_service"}
    impacted = {"state": "impacted", "root_cause": "account/ledger"}
    assert sample(m, "oversight_integration_state", **service, **impacted) == 1.0
    assert sample(m, "oversight_integration_state", **service, state="down") is None


async def test_reload_swaps_a_valid_config_and_keeps_unchanged_probes(
    start_agent: StartAgent, tcp_server: str, closed_port: str, tmp_path: Path
) -> None:
    agent = await start_agent(CONFIG.format(up=tcp_server, down=closed_port))
    await agent.wait_ready()
    kept = agent.app.store.latest["account/ledger/port"]
    changed = (
        CONFIG.format(up=tcp_server, down=tcp_server)
        + f"""\
  client:
    integrations:
      crm:
        scope: internal
        probes:
          port: {{interval: 60s, timeout: 1s, tcp: {{address: "{tcp_server}"}}}}
"""
    )
    (tmp_path / "oversight.yaml").write_text(changed)
    status, text = await agent.post("/-/reload")
    assert (status, text) == (200, "reloaded\n")
    assert agent.app.store.latest["account/ledger/port"] is kept  # unchanged: result kept
    assert "account/account_service/port" not in agent.app.store.latest  # changed: forgotten
    assert "client/crm/port" in agent.app.plan.probes
    status, _ = await agent.get("/readyz")
    assert status == 200  # readiness does not flap on reload
    await agent.wait_result("account/account_service/port")
    await agent.wait_result("client/crm/port")
    m = await agent.metrics()
    assert sample(m, "probe_success", integration="account_service") == 1.0
    assert sample(m, "probe_success", integration="crm") == 1.0


async def test_a_broken_reload_keeps_the_running_config(
    start_agent: StartAgent, tcp_server: str, closed_port: str, tmp_path: Path
) -> None:
    agent = await start_agent(CONFIG.format(up=tcp_server, down=closed_port))
    await agent.wait_ready()
    plan = agent.app.plan
    broken = CONFIG.format(up=tcp_server, down=closed_port).replace("timeout: 1s", "timout: 1s", 1)
    (tmp_path / "oversight.yaml").write_text(broken)
    status, text = await agent.post("/-/reload")
    assert status == 400
    assert "running config kept" in text
    assert (
        "oversight.yaml:14: patterns.account.integrations.ledger.probes.port: "
        "unknown key 'timout'; did you mean 'timeout'?"
    ) in text
    assert agent.app.plan is plan
    m = await agent.metrics()
    assert sample(m, "oversight_config_last_reload_successful") == 0.0
    assert sample(m, "probe_success", integration="ledger") == 1.0

    # SIGHUP takes the same path; a fixed config brings the gauge back to 1.
    (tmp_path / "oversight.yaml").write_text(CONFIG.format(up=tcp_server, down=closed_port))
    os.kill(os.getpid(), signal.SIGHUP)
    for _ in range(50):
        if agent.app.reload_successful:
            break
        await asyncio.sleep(0.05)
    m = await agent.metrics()
    assert sample(m, "oversight_config_last_reload_successful") == 1.0


FLAPPING = """\
agent:
  state: {{failures_to_down: 1, successes_to_recover: 1, flapping_changes: 2}}
patterns:
  bill_pay:
    integrations:
      processor:
        scope: external
        probes:
          health: {{interval: 200ms, timeout: 150ms, http: {{url: "{url}"}}}}
"""


async def test_a_flapping_integration_is_logged_once_then_at_debug(
    start_agent: StartAgent, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(leaky_app("4539148803436467")) as peer:
        with caplog.at_level(logging.DEBUG, logger="oversight.agent"):
            agent = await start_agent(FLAPPING.format(url=peer.url("/flap")))
            for _ in range(100):
                if agent.app.tracker.status("bill_pay/processor").changes >= 6:
                    break
                await asyncio.sleep(0.1)
    changes = [r for r in caplog.records if r.getMessage().startswith("bill_pay/processor: ")]
    assert len(changes) >= 6  # every change is still said, at debug once it flaps
    said = [(r.levelname, r.getMessage().endswith("until it settles")) for r in changes]
    assert said[:3] == [("INFO", False), ("INFO", True), ("DEBUG", False)]
    assert {level for level, _ in said[2:]} == {"DEBUG"}


class _Cycle:
    def __init__(self) -> None:
        self.me = self


async def test_a_reload_frees_what_an_earlier_freeze_caught_in_flight(
    tcp_server: str, closed_port: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A freeze takes whatever is alive with the plan; what then ends in a reference cycle
    (a run's parser error, an exporter's retries) only a whole refreeze can free."""
    path = tmp_path / "oversight.yaml"
    path.write_text(CONFIG.format(up=tcp_server, down=closed_port))
    app = App(path, listen="127.0.0.1:0", tune_gc=True)
    await app.start()
    try:
        in_flight = _Cycle()
        gone = weakref.ref(in_flight)
        assert (await app.reload()).ok
        del in_flight  # ends in its cycle, frozen
        gc.collect()
        assert gone() is not None  # out of the collector's reach
        assert (await app.reload()).ok
        assert gone() is not None  # a reload within REFREEZE_EVERY freezes only the new
        monkeypatch.setattr(agent.app, "REFREEZE_EVERY", 0.0)
        assert (await app.reload()).ok
        assert gone() is None
    finally:
        await app.stop()
        gc.unfreeze()
        gc.set_threshold(700, 10, 10)
