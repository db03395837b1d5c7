"""Where the deployment examples are, how they render, and small readers the deploy tests share."""

from __future__ import annotations

import copy
import functools
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
SIDECAR_BASE = KUBERNETES / "sidecar"
PROBER_BASE = KUBERNETES / "prober"
RULES_BASE = KUBERNETES / "rules"
COMPONENTS = KUBERNETES / "components"
LOCATIONS = sorted(p.parent for p in (KUBERNETES / "locations").glob("*/kustomization.yaml"))
BASES = (SIDECAR_BASE, PROBER_BASE, RULES_BASE)
# Every directory kustomize builds on its own: the bases and the locations (a Component only
# builds inside a Kustomization, so it is rendered through the locations that use it).
KUSTOMIZATIONS = (*BASES, *LOCATIONS)
COMPOSE = DEPLOY / "compose"
COMPOSE_FILE = COMPOSE / "docker-compose.yaml"
AGENT = "oversight"  # the agent's container, in the sidecar's pod and the prober's

# ${VAR} and ${VAR:-default} in a config string ($${ is a literal "${", not a reference).
_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")

RENDERER_HINT = (
    "rendering deploy/kubernetes needs kustomize v5: `kustomize` or `kubectl` (>= 1.27, which "
    "embeds it) on PATH; `bash scripts/test` installs kubectl when neither is there"
)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def name(directory: Path) -> str:
    """A kustomization's name in test ids: its path under deploy/kubernetes."""
    return str(directory.relative_to(KUBERNETES))


@functools.cache
def _renderer() -> tuple[str, ...]:
    """kustomize, else kubectl's own; on PATH, else beside this interpreter (scripts/test
    installs kubectl into .venv where the machine has neither)."""
    beside = str(Path(sys.executable).parent)
    for tool, command in (("kustomize", "build"), ("kubectl", "kustomize")):
        if found := shutil.which(tool) or shutil.which(tool, path=beside):
            return (found, command)
    pytest.fail(RENDERER_HINT, pytrace=False)


@functools.cache
def _render(directory: Path) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        [*_renderer(), str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"{name(directory)} does not render:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc is not None)


def render(directory: Path) -> list[dict[str, Any]]:
    """Every object a kustomization renders to, as kubectl apply -k would send them (a copy)."""
    return copy.deepcopy(list(_render(directory)))


def resources(directory: Path = SIDECAR_BASE) -> list[dict[str, Any]]:
    """The rendered objects of one kustomization (the sidecar's by default)."""
    return render(directory)


def one(kind: str, directory: Path = SIDECAR_BASE) -> dict[str, Any]:
    found = [doc for doc in render(directory) if doc["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects in {name(directory)}"
    return found[0]


def pod_spec(directory: Path = SIDECAR_BASE, kind: str = "Deployment") -> dict[str, Any]:
    spec: dict[str, Any] = one(kind, directory)["spec"]["template"]["spec"]
    return spec


def sidecar(directory: Path = SIDECAR_BASE) -> dict[str, Any]:
    """The agent in the sidecar's pod: a native sidecar, so among the init containers."""
    return next(c for c in pod_spec(directory).get("initContainers", ()) if c["name"] == AGENT)


def prober(directory: Path = PROBER_BASE) -> dict[str, Any]:
    """The agent in the prober's pod."""
    return next(c for c in pod_spec(directory, "StatefulSet")["containers"] if c["name"] == AGENT)


def workloads(docs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The objects in ``docs`` that carry a pod template."""
    return (doc for doc in docs if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet"})


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container of a pod spec, init containers first."""
    return [*pod.get("initContainers", ()), *pod["containers"]]


def agents(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, agent container) for every Oversight agent in ``docs``."""
    return [
        (doc, container)
        for doc in workloads(docs)
        for container in containers(doc["spec"]["template"]["spec"])
        if container["name"] == AGENT
    ]


def env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A container's environment: name -> its entry."""
    return {var["name"]: var for var in container.get("env", ())}


def named(kind: str, name_: str, directory: Path) -> dict[str, Any]:
    """The one object of this kind and name in a render."""
    found = [d for d in render(directory) if d["kind"] == kind and d["metadata"]["name"] == name_]
    assert len(found) == 1, f"{len(found)} {kind}/{name_} in {name(directory)}"
    return found[0]


def config_text(directory: Path = SIDECAR_BASE, kind: str = "Deployment") -> str:
    """The oversight.yaml the agent of this workload reads: the file its ``-c`` names, in the
    ConfigMap mounted there."""
    agent = next(c for w, c in agents(render(directory)) if w["kind"] == kind)
    path = PurePosixPath(agent["args"][agent["args"].index("-c") + 1])
    (mount,) = [m for m in agent["volumeMounts"] if m["mountPath"] == str(path.parent)]
    (volume,) = [v for v in pod_spec(directory, kind)["volumes"] if v["name"] == mount["name"]]
    text: str = named("ConfigMap", volume["configMap"]["name"], directory)["data"][path.name]
    return text


def config_references(text: str) -> set[str]:
    """The environment variables a config reads with ${VAR}."""
    return set(_REFERENCE.findall(text))


def secret_env(container: dict[str, Any], directory: Path) -> dict[str, str]:
    """What the render's Secrets give a container: variable -> value, via secretKeyRef."""
    found = {}
    for var in container["env"]:
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            data = named("Secret", ref["name"], directory).get("stringData", {})
            assert ref["key"] in data, f"{var['name']}: {ref['name']} has no key {ref['key']!r}"
            found[var["name"]] = data[ref["key"]]
    return found


def scrape_job() -> str:
    """The job the agent alerts expect (``up{job="..."}`` in alerts/rules/agent.yml)."""
    jobs = set(re.findall(r'up\{job="([^"]+)"\}', (ROOT / "alerts/rules/agent.yml").read_text()))
    assert len(jobs) == 1, jobs
    return jobs.pop()


def quantity(text: str) -> int:
    """A Kubernetes byte quantity (``100Mi``, ``1G``, ``512``) in bytes."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|k|M|G)?", str(text))
    assert match, text
    return int(match[1]) * units.get(match[2] or "", 1)


def millicores(text: str | int) -> int:
    """A Kubernetes CPU quantity (``100m``, ``1``, ``0.5``) in millicores."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m?)", str(text))
    assert match, text
    return round(float(match[1]) * (1 if match[2] else 1000))
