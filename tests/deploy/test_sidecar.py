"""The sidecar example: a native sidecar whose health never gates the app, scraped by its
PodMonitor, with its audit trail on a volume big enough for the rotation."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from agent.planning import load_plan
from tests.deploy.manifests import (
    SIDECAR_BASE,
    config_text,
    one,
    pod_spec,
    quantity,
    render,
    scrape_job,
    secret_env,
    sidecar,
)


def test_it_renders_the_app_its_sidecar_and_their_monitor() -> None:
    kinds = sorted(doc["kind"] for doc in render(SIDECAR_BASE))
    assert kinds == ["ConfigMap", "Deployment", "PodMonitor", "Secret"]
    assert {doc["metadata"]["namespace"] for doc in render(SIDECAR_BASE)} == {"payments"}


def test_agent_is_a_native_sidecar() -> None:
    """An init container that restarts (Kubernetes >= 1.29): started before the app, stopped
    after it, and not one of the app's containers."""
    pod = pod_spec()
    (agent,) = [c for c in pod["initContainers"] if c["name"] == sidecar()["name"]]
    assert agent["restartPolicy"] == "Always"
    assert sidecar()["name"] not in [c["name"] for c in pod["containers"]]
    assert [c["name"] for c in pod["containers"]] == ["payment-service"]


def test_agents_health_never_gates_the_apps_readiness() -> None:
    """A native sidecar's readiness counts in the pod's; the agent's /readyz waits for its first
    round, that is for the partners. So: no readinessProbe on it, only startup and liveness on
    /healthz (process up), and the app's own readiness is what the pod's Service routes on."""
    agent = sidecar()
    assert "readinessProbe" not in agent
    assert agent["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert agent["livenessProbe"]["httpGet"]["path"] == "/healthz"
    startup = agent["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] <= 60, "the app waits that long"
    (app,) = pod_spec()["containers"]
    assert app["readinessProbe"]["httpGet"]["port"] in {p["name"] for p in app["ports"]}


def test_podmonitor_scrapes_the_sidecar_alone_as_the_job_the_rules_expect() -> None:
    ports = {p["name"] for p in sidecar()["ports"]}
    monitor = one("PodMonitor")["spec"]
    labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert monitor["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = monitor["podMetricsEndpoints"]
    assert endpoint["port"] in ports
    assert endpoint["path"] == "/metrics"
    (relabel,) = endpoint["relabelings"]
    assert relabel == {"action": "replace", "targetLabel": "job", "replacement": scrape_job()}
    app_ports = [p.get("name") for c in pod_spec()["containers"] for p in c.get("ports", ())]
    assert endpoint["port"] not in app_ports, "the PodMonitor would scrape the app too"


def test_sidecar_is_small() -> None:
    resources = sidecar()["resources"]
    for kind in ("cpu", "memory"):
        assert kind in resources["requests"] and kind in resources["limits"], kind
    assert quantity(resources["requests"]["memory"]) <= quantity(resources["limits"]["memory"])
    assert quantity(resources["limits"]["memory"]) <= 256 * 2**20


def test_audit_trail_is_on_a_writable_volume_big_enough(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The root filesystem is read-only; the audit trail's volume holds every file the
    rotation keeps."""
    mounts = {m["mountPath"]: m for m in sidecar()["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    for variable, value in secret_env(sidecar(), SIDECAR_BASE).items():
        monkeypatch.setenv(variable, value)
    path = tmp_path / "oversight.yaml"
    path.write_text(config_text())
    audit = load_plan(path).audit
    assert audit is not None
    writable = [
        m
        for p, m in mounts.items()
        if PurePosixPath(audit.path).is_relative_to(p) and not m.get("readOnly")
    ]
    assert len(writable) == 1, f"{audit.path} is on no writable volume"
    size_limit = volumes[writable[0]["name"]]["emptyDir"]["sizeLimit"]
    assert int(audit.max_bytes) * (audit.keep + 1) <= quantity(size_limit)
