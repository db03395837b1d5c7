"""deploy/kubernetes as kustomize sees it: every file is used, every render is whole (namespaces
set, every ConfigMap and Secret a pod reads is in it), the agents meet the Pod Security
"restricted" profile, and each location names a location of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import (
    AGENT,
    COMPONENTS,
    DEPLOY,
    KUBERNETES,
    KUSTOMIZATIONS,
    LOCATIONS,
    PROBER_BASE,
    RULES_BASE,
    SIDECAR_BASE,
    agents,
    containers,
    env,
    load,
    name,
    render,
    workloads,
)

# Objects pods read that the renders do not contain, on purpose: the prober's TLS certificate
# and key (components/web-config), issued in the cluster; a private key has no place here.
EXTERNAL = {("Secret", "oversight-prober-tls")}
CLUSTER_SCOPED = {"Namespace"}
# Pod Security Standards, "restricted": the volume types it allows.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
DIRECTORIES = sorted(p.parent for p in KUBERNETES.rglob("kustomization.yaml"))


@pytest.mark.parametrize(
    "path", sorted(DEPLOY.rglob("*.y*ml")), ids=lambda p: str(p.relative_to(DEPLOY))
)
def test_every_yaml_file_parses(path: Path) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert documents, f"{path} is empty"
    if not path.is_relative_to(KUBERNETES):
        return
    for doc in documents:
        if isinstance(doc, list):  # a JSON patch
            assert all({"op", "path"} <= set(op) for op in doc), path
            continue
        assert {"apiVersion", "kind"} <= set(doc), path
        assert doc["kind"] in {"Kustomization", "Component"} or doc["metadata"]["name"], path


@pytest.mark.parametrize("directory", DIRECTORIES, ids=name)
def test_every_file_is_used(directory: Path) -> None:
    """A manifest no kustomization lists would never be applied (nor tested)."""
    kustomization = load(directory / "kustomization.yaml")
    listed = {r for r in kustomization.get("resources", ()) if (directory / r).is_file()}
    listed |= {p["path"] for p in kustomization.get("patches", ()) if "path" in p}
    present = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    for entry in [*kustomization.get("resources", ()), *kustomization.get("components", ())]:
        assert (directory / entry).exists(), f"{name(directory)}: {entry} does not exist"


def test_every_directory_is_rendered_by_the_tests() -> None:
    components = {p.parent for p in COMPONENTS.rglob("kustomization.yaml")}
    assert set(DIRECTORIES) == set(KUSTOMIZATIONS) | components
    used = {
        (location / c).resolve()
        for location in LOCATIONS
        for c in load(location / "kustomization.yaml").get("components", ())
    }
    assert components <= used, "a component no location renders is never validated"


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=name)
def test_every_namespaced_object_has_a_namespace(directory: Path) -> None:
    for doc in render(directory):
        namespace = doc["metadata"].get("namespace")
        if doc["kind"] in CLUSTER_SCOPED:
            assert namespace is None, doc["metadata"]["name"]
        else:
            assert namespace, f"{doc['kind']}/{doc['metadata']['name']} has no namespace"


def references(pod: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of every ConfigMap and Secret a pod spec reads."""
    found: set[tuple[str, str]] = set()
    for volume in pod.get("volumes", ()):
        sources = [volume, *volume.get("projected", {}).get("sources", ())]
        for source in sources:
            if "configMap" in source:
                found.add(("ConfigMap", source["configMap"]["name"]))
            if "secret" in source:
                secret = source["secret"]
                found.add(("Secret", secret.get("secretName") or secret["name"]))
    for container in containers(pod):
        for var in container.get("env", ()):
            value_from = var.get("valueFrom", {})
            if "secretKeyRef" in value_from:
                found.add(("Secret", value_from["secretKeyRef"]["name"]))
            if "configMapKeyRef" in value_from:
                found.add(("ConfigMap", value_from["configMapKeyRef"]["name"]))
    return found


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=name)
def test_every_configmap_and_secret_a_pod_reads_is_rendered(directory: Path) -> None:
    docs = render(directory)
    for workload in workloads(docs):
        namespace = workload["metadata"]["namespace"]
        present = {
            (d["kind"], d["metadata"]["name"])
            for d in docs
            if d["metadata"].get("namespace") == namespace
        }
        missing = references(workload["spec"]["template"]["spec"]) - present - EXTERNAL
        assert not missing, f"{workload['metadata']['name']} reads {missing}, not rendered"


def restricted(pod: dict[str, Any], names: set[str]) -> list[str]:
    """Where a pod spec breaks the "restricted" Pod Security Standard, for the containers named
    (the sidecar's app is the user's, so only the agent is checked there)."""
    broken = [f"host namespace {k}" for k in ("hostNetwork", "hostPID", "hostIPC") if pod.get(k)]
    broken += [
        f"volume {v['name']}"
        for v in pod.get("volumes", ())
        if not set(v) - {"name"} <= RESTRICTED_VOLUMES
    ]
    for container in containers(pod):
        if container["name"] not in names:
            continue
        context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
        checks = {
            "privileged": not context.get("privileged", False),
            "allowPrivilegeEscalation": context.get("allowPrivilegeEscalation") is False,
            "runAsNonRoot": context.get("runAsNonRoot") is True,
            "runAsUser": context.get("runAsUser") != 0,
            "capabilities": "ALL" in context.get("capabilities", {}).get("drop", ())
            and set(context.get("capabilities", {}).get("add", ())) <= {"NET_BIND_SERVICE"},
            "seccompProfile": context.get("seccompProfile", {}).get("type")
            in {"RuntimeDefault", "Localhost"},
            "hostPort": not any(p.get("hostPort") for p in container.get("ports", ())),
        }
        broken += [f"{container['name']}: {k}" for k, ok in checks.items() if not ok]
    return broken


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=name)
def test_agents_meet_the_restricted_pod_security_standard(directory: Path) -> None:
    for workload in workloads(render(directory)):
        pod = workload["spec"]["template"]["spec"]
        # The prober's pod is all agent; in the sidecar's, the app is the user's own.
        names = (
            {c["name"] for c in containers(pod)} if workload["kind"] == "StatefulSet" else {AGENT}
        )
        assert not restricted(pod, names), (workload["metadata"]["name"], restricted(pod, names))


def test_restricted_check_finds_a_loosened_pod() -> None:
    ((workload, container),) = agents(render(PROBER_BASE))
    pod = workload["spec"]["template"]["spec"]
    assert restricted(pod, {AGENT}) == []
    container["securityContext"]["capabilities"] = {"add": ["NET_ADMIN"]}
    pod["hostNetwork"] = True
    pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    assert restricted(pod, {AGENT}) == [
        "host namespace hostNetwork",
        "volume host",
        f"{AGENT}: capabilities",
    ]


def location(container: dict[str, Any]) -> str:
    value: str = env(container)["OVERSIGHT_LOCATION"]["value"]
    return value


def test_bases_name_no_location() -> None:
    for base in (SIDECAR_BASE, PROBER_BASE):
        for _, container in agents(render(base)):
            assert location(container) == "", "a base must not pretend to be a location"


@pytest.mark.parametrize("directory", LOCATIONS, ids=name)
def test_a_location_runs_everything_under_its_own_name(directory: Path) -> None:
    docs = render(directory)
    names = {location(container) for _, container in agents(docs)}
    assert names == {directory.name}, names
    assert sorted(w["kind"] for w, _ in agents(docs)) == ["Deployment", "StatefulSet"]
    rules = {(d["kind"], d["metadata"]["name"]) for d in render(RULES_BASE)}
    assert rules <= {(d["kind"], d["metadata"]["name"]) for d in docs}


def test_locations_are_distinct() -> None:
    assert len(LOCATIONS) >= 2
    names = [
        location(container) for directory in LOCATIONS for _, container in agents(render(directory))
    ]
    assert len(set(names)) == len(LOCATIONS)
    assert all(names)
