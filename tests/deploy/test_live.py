"""The paths the manifests and the image point at, on a real agent running each base's agent
settings (its partners swapped for a loopback peer) with the pod's variables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import StartAgent, sample
from tests.deploy.manifests import (
    DEPLOY,
    PROBER_BASE,
    SIDECAR_BASE,
    config_text,
    env,
    name,
    one,
    prober,
    sidecar,
)


def _healthcheck_path() -> str:
    healthcheck = re.search(
        r"HEALTHCHECK .*?'http://127\.0\.0\.1:\d+(/[^']*)'",
        (DEPLOY / "Dockerfile").read_text(),
        re.S,
    )
    assert healthcheck, "no HEALTHCHECK URL in deploy/Dockerfile"
    return healthcheck[1]


def _http_paths(base: Path) -> dict[str, str]:
    """Where Kubernetes, Prometheus and Docker will knock: name -> path."""
    if base == SIDECAR_BASE:
        agent = sidecar()
        (endpoint,) = one("PodMonitor")["spec"]["podMetricsEndpoints"]
    else:
        agent = prober()
        (endpoint,) = one("ServiceMonitor", PROBER_BASE)["spec"]["endpoints"]
    paths = {
        kind: agent[kind]["httpGet"]["path"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
        if kind in agent
    }
    return {**paths, "monitor": endpoint["path"], "Dockerfile HEALTHCHECK": _healthcheck_path()}


# Each base, the pod's name and, for the prober, its share: one shard of one, so the single
# probe below is this pod's whatever the agent's assignment of probes to shards.
BASES: list[tuple[Path, str, dict[str, str]]] = [
    (SIDECAR_BASE, "payment-service-7d9f-x2k4q", {}),
    (PROBER_BASE, "oversight-prober-1", {"OVERSIGHT_SHARDS": "1", "OVERSIGHT_POD_INDEX": "1"}),
]


@pytest.mark.parametrize(("base", "pod", "sharding"), BASES, ids=[name(b) for b, _, _ in BASES])
async def test_probe_and_scrape_paths_answer(
    base: Path,
    pod: str,
    sharding: dict[str, str],
    start_agent: StartAgent,
    tcp_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agent: dict[str, Any] = sidecar() if base == SIDECAR_BASE else prober()
    assert set(sharding) <= set(env(agent))
    monkeypatch.setenv("POD_NAME", pod)
    monkeypatch.setenv("OVERSIGHT_LOCATION", "eu-west-1")
    for variable, value in sharding.items():
        monkeypatch.setenv(variable, value)
    kind = "Deployment" if base == SIDECAR_BASE else "StatefulSet"
    config = yaml.safe_load(config_text(base, kind))
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
    running = await start_agent(yaml.safe_dump(config))
    await running.wait_ready()

    paths = _http_paths(base)
    assert {"startupProbe", "livenessProbe", "monitor"} <= set(paths)
    for source, path in paths.items():
        status, body = await running.get(path)
        assert status == 200, f"{source}: GET {path} -> {status} {body[:200]}"

    metrics = await running.metrics()
    assert (
        sample(
            metrics,
            "probe_success",
            integration="payment_service",
            agent=pod,
            location="eu-west-1",
            **config["agent"]["labels"],
        )
        == 1.0
    )
    assert (tmp_path / "audit.jsonl").stat().st_size > 0
