"""The central prober: n shards x 2 agents in one StatefulSet, kept up by its PodDisruptionBudget,
found through its headless Service, with its audit trail on a persistent volume and resources
that cover what the bench measured."""

from __future__ import annotations

import json
import statistics
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from agent.planning import load_plan
from tests.deploy.manifests import (
    KUSTOMIZATIONS,
    PROBER_BASE,
    ROOT,
    config_text,
    env,
    millicores,
    name,
    one,
    pod_spec,
    prober,
    quantity,
    render,
    scrape_job,
    secret_env,
    workloads,
)

# Every kustomization that renders the prober: its base and each location.
WITH_PROBER = [d for d in KUSTOMIZATIONS if any(o["kind"] == "StatefulSet" for o in render(d))]
# What one prober pod is sized for (statefulset.yaml's resources, deploy/README.md "Sizing
# shards"): this many integrations, one probe each at the config's default interval.
INTEGRATIONS_PER_POD = 1000


def by_render(test: Any) -> Any:
    return pytest.mark.parametrize("directory", WITH_PROBER, ids=[name(d) for d in WITH_PROBER])(
        test
    )


def statefulset(directory: Path) -> dict[str, Any]:
    return one("StatefulSet", directory)


def shards(directory: Path) -> int:
    return int(env(prober(directory))["OVERSIGHT_SHARDS"]["value"])


def test_the_base_and_every_location_render_the_prober() -> None:
    assert PROBER_BASE in WITH_PROBER
    assert len(WITH_PROBER) == 1 + len([d for d in KUSTOMIZATIONS if "locations" in d.parts])


@by_render
def test_two_agents_per_shard(directory: Path) -> None:
    """2n pods with OVERSIGHT_SHARDS=n: pods k and k+n run shard k mod n, an HA pair."""
    n = shards(directory)
    assert n >= 1
    assert statefulset(directory)["spec"]["replicas"] == 2 * n
    variables = env(prober(directory))
    assert "OVERSIGHT_SHARD" not in variables, "a fixed i/n would give every pod the same shard"
    index = variables["OVERSIGHT_POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert index == "metadata.labels['apps.kubernetes.io/pod-index']"
    assert variables["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_locations_may_size_their_shards_differently() -> None:
    assert len({shards(d) for d in WITH_PROBER}) > 1, "no overlay shows how to change n"


@by_render
def test_updates_replace_one_pod_at_a_time(directory: Path) -> None:
    """The ordered rolling update (one pod, then wait for Ready) is what keeps a pair's other
    member up; a partition or maxUnavailable would change that."""
    spec = statefulset(directory)["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate"}
    readiness = prober(directory)["readinessProbe"]["httpGet"]
    assert (readiness["path"], readiness["port"]) == ("/readyz", "metrics")
    assert spec["podManagementPolicy"] == "Parallel"  # start together; updates still roll


@by_render
def test_disruption_budget_covers_exactly_the_probers_pods(directory: Path) -> None:
    budget = one("PodDisruptionBudget", directory)
    sts = statefulset(directory)
    assert budget["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in budget["spec"]
    selector = budget["spec"]["selector"]
    assert selector == sts["spec"]["selector"]
    assert budget["metadata"]["namespace"] == sts["metadata"]["namespace"]
    for workload in workloads(render(directory)):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        selected = selector["matchLabels"].items() <= labels.items()
        assert selected == (workload["kind"] == "StatefulSet"), workload["metadata"]["name"]


@by_render
def test_headless_service_and_servicemonitor_find_every_pod(directory: Path) -> None:
    sts = statefulset(directory)
    service = one("Service", directory)
    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == sts["spec"]["selector"]["matchLabels"]
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in prober(directory)["ports"]}

    monitor = one("ServiceMonitor", directory)["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] == port["name"]
    assert endpoint["path"] == "/metrics"
    assert {"action": "replace", "targetLabel": "job", "replacement": scrape_job()} in endpoint[
        "relabelings"
    ]


@by_render
def test_no_kubernetes_api_access(directory: Path) -> None:
    pod = pod_spec(directory, "StatefulSet")
    account = one("ServiceAccount", directory)
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert account["automountServiceAccountToken"] is False
    assert pod["automountServiceAccountToken"] is False
    kinds = {doc["kind"] for doc in render(directory)}
    assert not kinds & {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}


@by_render
def test_namespace_enforces_the_restricted_profile(directory: Path) -> None:
    namespace = one("Namespace", directory)
    assert namespace["metadata"]["name"] == statefulset(directory)["metadata"]["namespace"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@by_render
def test_audit_trail_is_on_each_pods_persistent_volume(
    directory: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = statefulset(directory)["spec"]
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
    assert claim["metadata"]["name"] not in {v["name"] for v in pod["volumes"]}

    for variable, value in secret_env(prober(directory), directory).items():
        monkeypatch.setenv(variable, value)
    path = tmp_path / "oversight.yaml"
    path.write_text(config_text(directory, "StatefulSet"))
    audit = load_plan(path).audit
    assert audit is not None
    (mount,) = [
        m
        for m in prober(directory)["volumeMounts"]
        if PurePosixPath(audit.path).is_relative_to(m["mountPath"])
    ]
    assert mount["name"] == claim["metadata"]["name"]
    assert not mount.get("readOnly")
    size = quantity(claim["spec"]["resources"]["requests"]["storage"])
    assert int(audit.max_bytes) * (audit.keep + 1) <= size


def bench() -> dict[str, Any]:
    result: dict[str, Any] = json.loads((ROOT / "bench" / "RESULTS.json").read_text())
    return result


def measured_rss_mib(integrations: int) -> float:
    """The agent's highest peak RSS over the bench's runs with this many integrations."""
    peaks = [
        run["peak_rss_mib"]["agent"]
        for run in bench()["rates"] + bench()["scale"]
        if run["plan"]["targets"] == integrations and "agent" in run["peak_rss_mib"]
    ]
    assert peaks, f"bench/RESULTS.json has no agent run with {integrations} integrations"
    return max(peaks)


def measured_cpu_ms_per_probe() -> float:
    """The agent's highest CPU per probe over the bench's rates (the lowest rate costs most)."""
    costs = [
        statistics.median(run["cpu_ms_per_probe"]["agent"])
        for run in bench()["rates"]
        if "agent" in run["cpu_ms_per_probe"]
    ]
    assert costs, "bench/RESULTS.json has no agent CPU figures"
    return max(costs)


def test_resources_cover_the_measured_footprint() -> None:
    """Requests hold a pod of INTEGRATIONS_PER_POD at the config's interval, by bench/RESULTS.md:
    if a rerun of the bench measures more, this fails until statefulset.yaml follows."""
    resources = prober()["resources"]
    requests, limits = resources["requests"], resources["limits"]
    assert quantity(requests["memory"]) >= measured_rss_mib(INTEGRATIONS_PER_POD) * 2**20
    assert quantity(limits["memory"]) >= 2 * quantity(requests["memory"])

    interval = yaml.safe_load(config_text(PROBER_BASE, "StatefulSet"))["agent"]["interval"]
    assert interval.endswith("s"), interval
    probes_per_second = INTEGRATIONS_PER_POD / int(interval[:-1])
    needed = probes_per_second * measured_cpu_ms_per_probe()  # CPU ms per second = millicores
    assert millicores(requests["cpu"]) >= needed, (requests["cpu"], needed)
    assert millicores(limits["cpu"]) >= millicores(requests["cpu"])


def web_config(directory: Path) -> PurePosixPath | None:
    args = prober(directory)["args"]
    flag = "--web.config.file"
    return PurePosixPath(args[args.index(flag) + 1]) if flag in args else None


def test_some_location_shows_the_web_config() -> None:
    assert any(web_config(d) for d in WITH_PROBER)


@by_render
def test_web_config_is_mounted_where_the_flag_points_and_https_follows(directory: Path) -> None:
    """With --web.config.file (TLS), the kubelet's probes and Prometheus must speak HTTPS; the
    file and the certificate it names are in the one mounted directory."""
    path = web_config(directory)
    scheme = "HTTPS" if path else "HTTP"
    agent = prober(directory)
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert agent[kind]["httpGet"].get("scheme", "HTTP") == scheme, kind
    (endpoint,) = one("ServiceMonitor", directory)["spec"]["endpoints"]
    assert endpoint.get("scheme", "http") == scheme.lower()
    assert "--web.enable-lifecycle" not in agent["args"], "the agent reloads on its own"
    if path is None:
        return
    (mount,) = [m for m in agent["volumeMounts"] if path.is_relative_to(m["mountPath"])]
    assert mount["readOnly"] is True
    (volume,) = [
        v for v in pod_spec(directory, "StatefulSet")["volumes"] if v["name"] == mount["name"]
    ]
    files = {
        item["path"]: (source["secret"]["name"], item["key"])
        for source in volume["projected"]["sources"]
        for item in source["secret"]["items"]
    }
    secret = files[str(path.relative_to(mount["mountPath"]))]
    (document,) = [
        d for d in render(directory) if d["kind"] == "Secret" and d["metadata"]["name"] == secret[0]
    ]
    settings = yaml.safe_load(document["stringData"][secret[1]])["tls_server_config"]
    for key in ("cert_file", "key_file"):
        file = PurePosixPath(settings[key])
        assert str(file.relative_to(mount["mountPath"])) in files, (key, file)
    assert endpoint["tlsConfig"]["ca"]["secret"]["name"] == files["tls.crt"][0]
    service = one("Service", directory)["metadata"]
    assert endpoint["tlsConfig"]["serverName"] == f"{service['name']}.{service['namespace']}.svc"
