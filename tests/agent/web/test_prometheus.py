"""A real Prometheus scrapes a real ``oversight run`` guarded by a web config: over TLS with a
client certificate and basic auth the target is up; a wrong password is a 401, a missing
client certificate and plain HTTP fail, and the agent logs no traceback for any of them."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from tests.agent.web.conftest import (
    HOST,
    PASSWORD,
    Certs,
    agent_config,
    agent_process,
    basic,
    get,
    hashed,
)
from tests.dashboards.stack import free_port, prometheus_binary, started, wait_until_ok


def scrape_job(name: str, port: int, certs: Certs, **changes: Any) -> dict[str, Any]:
    """The scrape_config a Prometheus user writes for a guarded agent, with ``changes``."""
    job: dict[str, Any] = {
        "job_name": name,
        "scheme": "https",
        "tls_config": {
            "ca_file": str(certs.ca_file),
            "cert_file": str(certs.client_cert_file),
            "key_file": str(certs.client_key_file),
        },
        "basic_auth": {"username": "prometheus", "password": PASSWORD},
        "static_configs": [{"targets": [f"{HOST}:{port}"]}],
    }
    return job | changes


def targets(prometheus: str) -> dict[str, dict[str, Any]]:
    _, body = get(f"{prometheus}/api/v1/targets?state=active")
    found = json.loads(body)["data"]["activeTargets"]
    return {target["labels"]["job"]: target for target in found}


def test_prometheus_scrapes_the_guarded_agent(tmp_path: Path, certs: Certs) -> None:
    port, prometheus_port = free_port(), free_port()
    web = tmp_path / "web.yml"
    web.write_text(
        f"""\
tls_server_config:
  cert_file: {certs.cert_file}
  key_file: {certs.key_file}
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: {certs.ca_file}
basic_auth_users:
  prometheus: {hashed(PASSWORD)}
"""
    )
    config = tmp_path / "oversight.yaml"
    config.write_text(agent_config("http://127.0.0.1:1/", listen=f"{HOST}:{port}"))
    url = f"https://{HOST}:{port}"
    context = certs.client_context(with_cert=True)
    auth = {"Authorization": basic("prometheus", PASSWORD)}

    def answers() -> bool:
        return get(url + "/healthz", context=context, headers=auth)[0] == 200

    args = ["run", "-c", str(config), "--web.config.file", str(web), "--log-level", "debug"]
    jobs = [
        scrape_job("oversight", port, certs),
        scrape_job(
            "wrong_password",
            port,
            certs,
            basic_auth={"username": "prometheus", "password": "guess"},
        ),
        scrape_job("no_client_cert", port, certs, tls_config={"ca_file": str(certs.ca_file)}),
        scrape_job("plain_http", port, certs, scheme="http"),
    ]
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs})
    )
    prometheus_url = f"http://{HOST}:{prometheus_port}"
    with (
        agent_process(tmp_path, args, answers) as agent,
        started(
            [
                prometheus_binary(),
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address={HOST}:{prometheus_port}",
            ],
            tmp_path / "prometheus.log",
        ) as process,
    ):
        wait_until_ok(f"{prometheus_url}/-/ready", process, tmp_path / "prometheus.log", 30)
        deadline = time.monotonic() + 30
        seen = targets(prometheus_url)
        while time.monotonic() < deadline and (
            len(seen) < 4 or any(t["health"] == "unknown" for t in seen.values())
        ):
            time.sleep(0.5)
            seen = targets(prometheus_url)
        query = urllib.parse.urlencode({"query": 'oversight_build_info{job="oversight"}'})
        _, body = get(f"{prometheus_url}/api/v1/query?{query}")
        log = agent.text()

    assert {job: target["health"] for job, target in seen.items()} == {
        "oversight": "up",
        "wrong_password": "down",
        "no_client_cert": "down",
        "plain_http": "down",
    }, {job: target["lastError"] for job, target in seen.items()}
    assert len(json.loads(body)["data"]["result"]) == 1  # the metrics themselves arrived
    assert seen["wrong_password"]["lastError"] == "server returned HTTP status 401 Unauthorized"
    assert seen["plain_http"]["lastError"] == "server returned HTTP status 400 Bad Request"
    assert "Traceback" not in log
    assert "ERROR" not in log
