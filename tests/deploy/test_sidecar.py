"""The sidecar manifests: they parse, agree with each other and with what the agent reads."""

from __future__ import annotations

import ast
from pathlib import Path, PurePosixPath

import pytest
import yaml

from agent.app import load_plan
from agent.cli import main
from exporters.otel_resource import K8S_VARIABLES
from tests.deploy.manifests import (
    DEPLOY,
    KUBERNETES,
    ROOT,
    config_references,
    config_text,
    load,
    one,
    pod_spec,
    quantity,
    resources,
    scrape_job,
    secret_env,
    sidecar,
)

# The downward-API field behind each OTel resource attribute the agent fills from a variable.
DOWNWARD = {
    "k8s.pod.name": "metadata.name",
    "k8s.namespace.name": "metadata.namespace",
    "k8s.pod.uid": "metadata.uid",
    "k8s.node.name": "spec.nodeName",
}


def plan_variables() -> set[str]:
    """Variables agent/plan.py reads by name (``os.environ.get("NAME")``): read from its source."""
    tree = ast.parse((ROOT / "agent" / "plan.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and ast.unparse(node.func) == "os.environ.get"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


@pytest.mark.parametrize(
    "path", sorted(DEPLOY.rglob("*.y*ml")), ids=lambda p: str(p.relative_to(DEPLOY))
)
def test_every_yaml_file_parses(path: Path) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert documents, f"{path} is empty"
    if path.parent == KUBERNETES:
        for doc in documents:
            assert {"apiVersion", "kind"} <= set(doc), path
            assert doc["kind"] == "Kustomization" or doc["metadata"]["name"], path


def test_kustomization_lists_every_manifest() -> None:
    listed = load(KUBERNETES / "kustomization.yaml")["resources"]
    present = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(listed) == sorted(present)
    kinds = [doc["kind"] for doc in resources()]
    assert sorted(kinds) == sorted(
        ["Secret", "ConfigMap", "Deployment", "PodMonitor", "PrometheusRule"]
    )
    versions = {doc["kind"]: doc["apiVersion"] for doc in resources()}
    assert versions["PodMonitor"] == versions["PrometheusRule"] == "monitoring.coreos.com/v1"


def test_configmap_config_passes_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "oversight.yaml"
    path.write_text(config_text())
    for name in config_references(config_text()):
        monkeypatch.delenv(name, raising=False)
    assert main(["check", "-c", str(path)]) == 1, "the config should need the Secret's variables"
    assert "is not set" in capsys.readouterr().err

    for name, value in secret_env().items():
        monkeypatch.setenv(name, value)
    assert main(["check", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ok: 1 patterns, 2 integrations (1 external, 1 internal)" in out, out


def test_secrets_are_exactly_the_configs_references() -> None:
    assert config_references(config_text())
    assert set(secret_env()) == config_references(config_text())
    assert "replace-me" not in config_text(), "a secret is inline in the config"


def test_downward_api_variables_are_exactly_the_ones_the_agent_reads() -> None:
    env = {v["name"]: v for v in sidecar()["env"]}
    plain = {name for name, v in env.items() if "secretKeyRef" not in v.get("valueFrom", {})}
    preferred = {names[0] for _, names in K8S_VARIABLES}
    assert plan_variables() >= {"POD_NAME", "OVERSIGHT_LOCATION"}, plan_variables()
    assert plain == preferred | plan_variables()
    for attribute, names in K8S_VARIABLES:
        field = env[names[0]].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if attribute in DOWNWARD:
            assert field == DOWNWARD[attribute], (names[0], field)
        else:  # k8s.container.name: not in the downward API, so a plain value
            assert env[names[0]]["value"] == sidecar()["name"]


def test_sidecar_ports_probes_and_podmonitor_agree() -> None:
    ports = {p["name"]: p["containerPort"] for p in sidecar()["ports"]}
    listen = yaml.safe_load(config_text())["agent"]["listen"]
    assert ports["metrics"] == int(listen.rsplit(":", 1)[1])
    for kind in ("readinessProbe", "livenessProbe"):
        assert sidecar()[kind]["httpGet"]["port"] in ports, kind
    assert sidecar()["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert sidecar()["livenessProbe"]["httpGet"]["path"] == "/healthz"

    monitor = one("PodMonitor")["spec"]
    labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert monitor["selector"]["matchLabels"].items() <= labels.items()
    (endpoint,) = monitor["podMetricsEndpoints"]
    assert endpoint["port"] in ports
    assert endpoint["path"] == "/metrics"
    (relabel,) = endpoint["relabelings"]
    assert relabel == {"action": "replace", "targetLabel": "job", "replacement": scrape_job()}
    app_ports = [
        p.get("name")
        for c in pod_spec()["containers"]
        if c["name"] != sidecar()["name"]
        for p in c.get("ports", ())
    ]
    assert endpoint["port"] not in app_ports, "the PodMonitor would scrape the app too"


def test_sidecar_is_locked_down_and_small() -> None:
    context = sidecar()["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    resources = sidecar()["resources"]
    for kind in ("cpu", "memory"):
        assert kind in resources["requests"] and kind in resources["limits"], kind
    assert quantity(resources["requests"]["memory"]) <= quantity(resources["limits"]["memory"])
    assert quantity(resources["limits"]["memory"]) <= 256 * 2**20


def test_config_and_audit_trail_are_on_the_right_volumes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The config file is where the args say; the audit trail is on a writable volume (the root
    filesystem is read-only) big enough for every file the rotation keeps."""
    mounts = {m["mountPath"]: m for m in sidecar()["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec()["volumes"]}
    config = PurePosixPath(sidecar()["args"][sidecar()["args"].index("-c") + 1])
    mount = mounts[str(config.parent)]
    assert mount.get("readOnly") is True
    assert volumes[mount["name"]]["configMap"]["name"] == one("ConfigMap")["metadata"]["name"]
    assert config.name in one("ConfigMap")["data"]

    for name, value in secret_env().items():
        monkeypatch.setenv(name, value)
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
