"""Where the deployment examples are, and small readers the deploy tests share."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
COMPOSE = DEPLOY / "compose"
COMPOSE_FILE = COMPOSE / "docker-compose.yaml"
SIDECAR = "oversight"  # the agent's container in deployment.yaml

# ${VAR} and ${VAR:-default} in a config string ($${ is a literal "${", not a reference).
_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def resources() -> list[dict[str, Any]]:
    """Every object kustomization.yaml lists, in its order."""
    listed = load(KUBERNETES / "kustomization.yaml")["resources"]
    return [doc for name in listed for doc in yaml.safe_load_all((KUBERNETES / name).read_text())]


def one(kind: str) -> dict[str, Any]:
    found = [doc for doc in resources() if doc["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects in deploy/kubernetes"
    return found[0]


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = one("Deployment")["spec"]["template"]["spec"]
    return spec


def sidecar() -> dict[str, Any]:
    return next(c for c in pod_spec()["containers"] if c["name"] == SIDECAR)


def config_text() -> str:
    """The agent's oversight.yaml, as the ConfigMap holds it."""
    text: str = one("ConfigMap")["data"]["oversight.yaml"]
    return text


def config_references(text: str) -> set[str]:
    """The environment variables a config reads with ${VAR}."""
    return set(_REFERENCE.findall(text))


def secret_env() -> dict[str, str]:
    """What the Secret gives the sidecar: variable name -> value, through secretKeyRef."""
    secret = one("Secret")
    data = secret.get("stringData", {})
    env = {}
    for var in sidecar()["env"]:
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            assert ref["name"] == secret["metadata"]["name"], var
            assert ref["key"] in data, f"{var['name']}: the Secret has no key {ref['key']!r}"
            env[var["name"]] = data[ref["key"]]
    return env


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
