"""What the sidecar and the central prober share: each base's config passes `oversight check`, its
Secret gives exactly the variables the config reads, the pod sets only variables the agent
reads, and the agent's port, config file and security settings agree with the image."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from agent.cli import main
from exporters.otlp.resource import K8S_VARIABLES
from tests.deploy.manifests import (
    PROBER_BASE,
    ROOT,
    SIDECAR_BASE,
    config_references,
    config_text,
    env,
    name,
    one,
    pod_spec,
    prober,
    secret_env,
    sidecar,
)

# Each base, the kind of its workload and how to find the agent in it.
AGENTS: list[tuple[Path, str, Callable[[Path], dict[str, Any]]]] = [
    (SIDECAR_BASE, "Deployment", sidecar),
    (PROBER_BASE, "StatefulSet", prober),
]
# The downward-API field behind each OTel resource attribute the agent fills from a variable.
DOWNWARD = {
    "k8s.pod.name": "metadata.name",
    "k8s.namespace.name": "metadata.namespace",
    "k8s.pod.uid": "metadata.uid",
    "k8s.node.name": "spec.nodeName",
}
# Sharding, as the agent reads it: OVERSIGHT_SHARD=i/n, or OVERSIGHT_SHARDS=n with the pod's
# ordinal from OVERSIGHT_POD_INDEX (else POD_NAME's trailing -<k>).
SHARDING = {"OVERSIGHT_SHARD", "OVERSIGHT_SHARDS", "OVERSIGHT_POD_INDEX"}
# What each agent must be told: who and where it is, and (the prober only) its share.
REQUIRED = {
    SIDECAR_BASE: {"POD_NAME", "OVERSIGHT_LOCATION"},
    PROBER_BASE: {"POD_NAME", "OVERSIGHT_LOCATION", "OVERSIGHT_SHARDS", "OVERSIGHT_POD_INDEX"},
}


def plan_variables() -> set[str]:
    """Variables agent/planning/build.py reads by name (``os.environ.get("NAME")``)."""
    tree = ast.parse((ROOT / "agent" / "planning" / "build.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and ast.unparse(node.func) == "os.environ.get"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def by_base(test: Callable[..., None]) -> Callable[..., None]:
    return pytest.mark.parametrize(
        ("base", "kind", "find"), AGENTS, ids=[name(base) for base, _, _ in AGENTS]
    )(test)


@by_base
def test_config_passes_check_with_the_secrets_values(
    base: Path,
    kind: str,
    find: Callable[[Path], dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "oversight.yaml"
    path.write_text(config_text(base, kind))
    for variable in config_references(config_text(base, kind)):
        monkeypatch.delenv(variable, raising=False)
    assert main(["check", "-c", str(path)]) == 1, "the config should need the Secret's variables"
    assert "is not set" in capsys.readouterr().err

    for variable, value in secret_env(find(base), base).items():
        monkeypatch.setenv(variable, value)
    assert main(["check", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    config = yaml.safe_load(config_text(base, kind))
    integrations = sum(len(p["integrations"]) for p in config["patterns"].values())
    assert f"ok: {len(config['patterns'])} patterns, {integrations} integrations" in out, out


@by_base
def test_secrets_are_exactly_the_configs_references(
    base: Path, kind: str, find: Callable[[Path], dict[str, Any]]
) -> None:
    references = config_references(config_text(base, kind))
    assert references
    assert set(secret_env(find(base), base)) == references
    assert "replace-me" not in config_text(base, kind), "a secret is inline in the config"


@by_base
def test_every_variable_set_is_one_the_agent_reads(
    base: Path, kind: str, find: Callable[[Path], dict[str, Any]]
) -> None:
    variables = env(find(base))
    plain = {n for n, v in variables.items() if "secretKeyRef" not in v.get("valueFrom", {})}
    preferred = {names[0] for _, names in K8S_VARIABLES}
    assert plan_variables() >= {"POD_NAME", "OVERSIGHT_LOCATION"}, plan_variables()
    assert plain >= preferred | REQUIRED[base]
    assert plain <= preferred | plan_variables() | SHARDING, plain - preferred
    for attribute, names in K8S_VARIABLES:
        field = variables[names[0]].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if attribute in DOWNWARD:
            assert field == DOWNWARD[attribute], (names[0], field)
        else:  # k8s.container.name: not in the downward API, so a plain value
            assert variables[names[0]]["value"] == find(base)["name"]


@by_base
def test_port_and_probes_agree_with_the_config(
    base: Path, kind: str, find: Callable[[Path], dict[str, Any]]
) -> None:
    agent = find(base)
    ports = {p["name"]: p["containerPort"] for p in agent["ports"]}
    listen = yaml.safe_load(config_text(base, kind))["agent"]["listen"]
    assert ports == {"metrics": int(listen.rsplit(":", 1)[1])}
    assert agent["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert agent["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}


@by_base
def test_config_file_is_the_configmap_mounted_whole(
    base: Path, kind: str, find: Callable[[Path], dict[str, Any]]
) -> None:
    """Where the args say, read-only, and not by subPath: a subPath mount never sees the
    kubelet's update, so the agent would never reload."""
    agent = find(base)
    args = agent["args"]
    config = PurePosixPath(args[args.index("-c") + 1])
    mounts = {m["mountPath"]: m for m in agent["volumeMounts"]}
    mount = mounts[str(config.parent)]
    assert mount.get("readOnly") is True
    assert "subPath" not in mount and "subPathExpr" not in mount
    volumes = {v["name"]: v for v in pod_spec(base, kind)["volumes"]}
    configmap = one("ConfigMap", base)
    assert volumes[mount["name"]]["configMap"]["name"] == configmap["metadata"]["name"]
    assert config.name in configmap["data"]


@by_base
def test_agent_is_locked_down_and_runs_as_the_images_user(
    base: Path, kind: str, find: Callable[[Path], dict[str, Any]]
) -> None:
    pod = pod_spec(base, kind)
    context = {**pod.get("securityContext", {}), **find(base)["securityContext"]}
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == context["runAsGroup"] == 10001  # deploy/Dockerfile's USER
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
