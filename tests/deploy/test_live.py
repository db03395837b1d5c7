"""The paths the manifests and the image point at, on a real agent running the ConfigMap's
agent settings (its partners swapped for a loopback peer) with the pod's variables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import StartAgent, sample
from tests.deploy.manifests import DEPLOY, config_text, one, sidecar


def _http_paths() -> dict[str, str]:
    """Where Kubernetes, Prometheus and Docker will knock: name -> path."""
    healthcheck = re.search(
        r"HEALTHCHECK .*?'http://127\.0\.0\.1:\d+(/[^']*)'",
        (DEPLOY / "Dockerfile").read_text(),
        re.S,
    )
    assert healthcheck, "no HEALTHCHECK URL in deploy/Dockerfile"
    (endpoint,) = one("PodMonitor")["spec"]["podMetricsEndpoints"]
    return {
        "readinessProbe": sidecar()["readinessProbe"]["httpGet"]["path"],
        "livenessProbe": sidecar()["livenessProbe"]["httpGet"]["path"],
        "PodMonitor": endpoint["path"],
        "Dockerfile HEALTHCHECK": healthcheck[1],
    }


async def test_probe_and_scrape_paths_answer(
    start_agent: StartAgent, tcp_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {v["name"]: v.get("value") for v in sidecar()["env"]}
    monkeypatch.setenv("POD_NAME", "payment-service-7d9f-x2k4q")
    monkeypatch.setenv("OVERSIGHT_LOCATION", env["OVERSIGHT_LOCATION"])
    config = yaml.safe_load(config_text())
    config["patterns"] = {
        "bill_pay": {
            "owner": "team-payments",
            "integrations": {
                "payment_service": {
                    "scope": "internal",
                    "criticality": "critical",
                    "probes": {"port": {"tcp": {"address": tcp_server}}},
                }
            },
        }
    }
    config["audit"]["path"] = str(tmp_path / "audit.jsonl")
    agent = await start_agent(yaml.safe_dump(config))
    await agent.wait_ready()

    for name, path in _http_paths().items():
        status, body = await agent.get(path)
        assert status == 200, f"{name}: GET {path} -> {status} {body[:200]}"

    metrics = await agent.metrics()
    assert (
        sample(
            metrics,
            "probe_success",
            integration="payment_service",
            agent="payment-service-7d9f-x2k4q",
            location=env["OVERSIGHT_LOCATION"],
            cluster=config["agent"]["labels"]["cluster"],
        )
        == 1.0
    )
    assert (tmp_path / "audit.jsonl").stat().st_size > 0
