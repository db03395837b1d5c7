"""`oversight demo` and a real Prometheus scraping it, on loopback, for the dashboard tests.

Prometheus scrapes every second as job ``oversight`` and evaluates the shipped rules from
alerts/rules every second, so recording rules and ALERTS exist for the dashboards' queries.
Both processes log to files in the test's directory and stop when the fixture ends.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "alerts" / "rules").glob("*.yml"))
HOST = "127.0.0.1"
PROMETHEUS = "prometheus"


def free_port() -> int:
    """A port nothing listens on right now (both programs take a port, not port 0)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
        return body


def wait_until_ok(url: str, process: subprocess.Popen[bytes], log: Path, limit: float) -> None:
    """Poll ``url`` until it answers 200; fail with the log if the process dies or time runs out."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} process exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            get(url, timeout=1.0)
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{url} not ready in {limit}s:\n{log.read_text(errors='replace')[-3000:]}")


@contextmanager
def started(args: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[Any]:
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@dataclass(frozen=True)
class Stack:
    """The running pair: where each listens, and the agent's name (its ``agent`` label)."""

    agent_url: str
    prometheus_url: str
    instance: str

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Run an instant query (now, or at unix time ``at``); the result's series (vector) or
        one sample (scalar)."""
        params = {"query": expr} | ({} if at is None else {"time": f"{at:.3f}"})
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode(params)
        try:
            body = json.loads(get(url))
        except urllib.error.HTTPError as error:
            body = json.loads(error.read())
        assert body["status"] == "success", f"{expr}\n-> {body.get('error')}"
        data = body["data"]
        return data["result"] if data["resultType"] in ("vector", "matrix") else [data]

    def series(self, match: str) -> list[dict[str, str]]:
        url = f"{self.prometheus_url}/api/v1/series?" + urllib.parse.urlencode({"match[]": match})
        result: list[dict[str, str]] = json.loads(get(url))["data"]
        return result

    def metrics(self) -> str:
        return get(f"{self.agent_url}/metrics").decode()

    def scraped_names(self) -> set[str]:
        """Every metric name Prometheus stored from the agent's /metrics during the run (less
        the series Prometheus adds to every target: up, scrape_*)."""
        query = urllib.parse.urlencode({"match[]": '{job="oversight"}'})
        url = f"{self.prometheus_url}/api/v1/label/__name__/values?{query}"
        names: list[str] = json.loads(get(url))["data"]
        return {n for n in names if n != "up" and not n.startswith("scrape_")}


def prometheus_binary() -> str:
    path = shutil.which(PROMETHEUS) or "/usr/bin/prometheus"
    if not Path(path).exists():
        pytest.fail("prometheus not found: apt-get install prometheus (scripts/test does)")
    return path


@contextmanager
def running_stack(workdir: Path, settle: float) -> Iterator[Stack]:
    """Start the demo and Prometheus, then let Prometheus collect for ``settle`` seconds."""
    agent_port, prometheus_port, otlp_port = free_port(), free_port(), free_port()
    agent = f"{HOST}:{agent_port}"
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in RULES],
        "scrape_configs": [{"job_name": "oversight", "static_configs": [{"targets": [agent]}]}],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    # OTLP export to a loopback port nobody answers: the export-failure counter is shown.
    env = os.environ | {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{HOST}:{otlp_port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    demo = [sys.executable, "-m", "agent.cli", "demo", "--listen", agent, "--duration", "600"]
    with ExitStack() as stack:
        agent_process = stack.enter_context(started(demo, workdir / "demo.log", env))
        wait_until_ok(f"http://{agent}/metrics", agent_process, workdir / "demo.log", 30)
        prometheus = [
            prometheus_binary(),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={HOST}:{prometheus_port}",
            "--log.level=warn",
        ]
        log = workdir / "prometheus.log"
        process = stack.enter_context(started(prometheus, log))
        url = f"http://{HOST}:{prometheus_port}"
        wait_until_ok(f"{url}/-/ready", process, log, 30)
        time.sleep(settle)
        assert agent_process.poll() is None, (workdir / "demo.log").read_text()[-3000:]
        yield Stack(f"http://{agent}", url, agent)
