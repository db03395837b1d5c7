"""The local stack (Compose cannot run here): every path it mounts or builds from exists, its
services find each other by the names the mounted configs use, and promtool accepts its
Prometheus config with the rule files where the stack mounts them."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.alerts.tools import binary, run
from tests.deploy.manifests import COMPOSE, COMPOSE_FILE, DEPLOY, ROOT, load, scrape_job


def services() -> dict[str, Any]:
    found: dict[str, Any] = load(COMPOSE_FILE)["services"]
    return found


def mounts(service: str) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts."""
    found = {}
    for volume in services()[service].get("volumes", ()):
        host, container = volume.split(":")[:2]
        found[container] = (COMPOSE / host).resolve()
    return found


def hostnames() -> set[str]:
    """Names the services answer to on the stack's network."""
    names = set(services())
    for service in services().values():
        for network in (service.get("networks") or {}).values():
            names |= set((network or {}).get("aliases", ()))
    return names


@pytest.mark.parametrize("service", sorted(load(COMPOSE_FILE)["services"]))
def test_mounted_paths_exist(service: str) -> None:
    for container, host in mounts(service).items():
        assert host.is_relative_to(ROOT), f"{service}: {host} is outside the repository"
        assert host.exists(), f"{service}: {host} (mounted at {container}) does not exist"
        if PurePosixPath(container).suffix in {".yml", ".yaml"}:
            assert host.is_file(), f"{service}: {host} is not a file"


def test_agent_is_built_from_the_dockerfile_and_runs_the_demo() -> None:
    agent = services()["agent"]
    context = (COMPOSE / agent["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / agent["build"]["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    command = agent["command"]
    assert command[:2] == ["demo", "--listen"]
    assert command[2].startswith("0.0.0.0:")


def test_grafana_mounts_provisioning_as_it_is_and_finds_prometheus() -> None:
    grafana = mounts("grafana")
    assert grafana["/etc/grafana/provisioning"] == ROOT / "dashboards" / "provisioning"
    provider = load(ROOT / "dashboards/provisioning/dashboards/oversight.yaml")
    path = provider["providers"][0]["options"]["path"]
    assert grafana[path] == ROOT / "dashboards"
    (source,) = load(ROOT / "dashboards/provisioning/datasources/prometheus.yaml")["datasources"]
    url = urlsplit(source["url"])
    assert url.hostname == "prometheus" and "prometheus" in services()


def test_collector_sends_where_the_stack_listens() -> None:
    collector = load(DEPLOY / "otel-collector.yaml")
    traces = collector["exporters"]["otlp/traces"]["endpoint"]
    assert traces.rsplit(":", 1)[0] in hostnames(), f"nothing answers to {traces}"
    endpoint = urlsplit(services()["agent"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert endpoint.hostname in hostnames()
    grpc = collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert endpoint.port == int(grpc.rsplit(":", 1)[1])


def test_prometheus_scrapes_the_agent_as_the_job_the_rules_expect() -> None:
    config = load(COMPOSE / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    (targets,) = jobs[scrape_job()]["static_configs"]
    port = services()["agent"]["command"][2].rsplit(":", 1)[1]
    assert targets["targets"] == [f"agent:{port}"]
    (manager,) = config["alerting"]["alertmanagers"][0]["static_configs"]
    assert manager["targets"][0].split(":")[0] in hostnames()


def test_prometheus_config_passes_promtool_with_the_rules_as_mounted(tmp_path: Path) -> None:
    config = load(COMPOSE / "prometheus.yml")
    resolved = []
    for pattern in config["rule_files"]:
        directory = PurePosixPath(pattern).parent
        host = mounts("prometheus")[str(directory)]
        resolved.append(str(host / PurePosixPath(pattern).name))
    config["rule_files"] = resolved
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = run(binary("promtool"), "check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    files = len(list((ROOT / "alerts" / "rules").glob("*.yml")))
    assert f"SUCCESS: {files} rule files found" in result.stdout, result.stdout
