"""The peers from Debian's packages: nginx (the target), blackbox_exporter and Prometheus.

Each gets its own config and data directory under the run's temp dir and loopback ports;
the system services are never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Proc, Procs, free_port, wait_http

NGINX = "/usr/sbin/nginx"
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
PROMETHEUS = "/usr/bin/prometheus"
PACKAGES = {NGINX: "nginx", BLACKBOX: "prometheus-blackbox-exporter", PROMETHEUS: "prometheus"}


def missing_packages(binaries: Sequence[str] = tuple(PACKAGES)) -> list[str]:
    return [PACKAGES[b] for b in binaries if not os.access(b, os.X_OK)]


def ensure_packages(binaries: Sequence[str] = tuple(PACKAGES)) -> None:
    """apt-get install whatever peer is missing (needs root); installing does not start it
    for us: Debian may start the system service, which the bench leaves alone."""
    missing = missing_packages(binaries)
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"missing {', '.join(missing)}: run as root or apt-get install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        check=True,
        env=env,
    )


def version(binary: str) -> str:
    """First line of ``--version`` (or ``-v`` for nginx, which prints to stderr)."""
    flag = "-v" if binary == NGINX else "--version"
    try:
        done = subprocess.run([binary, flag], capture_output=True, text=True, timeout=10)
    except OSError:
        return "not installed"
    text = (done.stdout + done.stderr).strip().splitlines()
    first = text[0] if text else "?"
    match = re.search(r"version[:\s]+(\S+)", first)
    return match.group(1) if match else first


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
worker_rlimit_nofile 65536;
events {{ worker_connections 16384; }}
http {{
    log_format bench '$msec $request_uri $status';
    access_log {dir}/access.log bench buffer=256k flush=1s;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        default_type text/plain;
        location /t/ {{ return 200 "ok\\n"; }}
        location = /healthz {{ access_log off; return 200 "ok\\n"; }}
    }}
}}
"""


@dataclass
class Nginx:
    proc: Proc
    port: int
    access_log: Path

    def url(self, target: int) -> str:
        return f"http://127.0.0.1:{self.port}/t/{target}"


def start_nginx(procs: Procs, name: str = "nginx") -> Nginx:
    directory = procs.workdir / name
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=directory, port=port))
    proc = procs.start(name, [NGINX, "-p", str(directory), "-c", str(conf)])
    wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
    return Nginx(proc, port, directory / "access.log")


BLACKBOX_CONF = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: [200]
      fail_if_body_not_matches_regexp: ["ok"]
"""


@dataclass
class Blackbox:
    proc: Proc
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_blackbox(procs: Procs) -> Blackbox:
    """blackbox_exporter with one http module that checks what the agent's conditions do:
    status 200 and a body matching ``ok``."""
    directory = procs.workdir / "blackbox"
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "blackbox.yml"
    conf.write_text(BLACKBOX_CONF)
    port = free_port()
    argv = [
        BLACKBOX,
        f"--config.file={conf}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    proc = procs.start("blackbox", argv)
    wait_http(f"http://127.0.0.1:{port}/-/healthy", proc=proc)
    return Blackbox(proc, port)


@dataclass
class Prometheus:
    proc: Proc
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _duration(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def blackbox_scrape_config(blackbox: Blackbox, targets: Sequence[str], interval: float) -> str:
    """The usual blackbox job: targets become ?target=, the address becomes blackbox's."""
    lines = [
        "  - job_name: blackbox",
        "    metrics_path: /probe",
        "    params: {module: [http_2xx]}",
        f"    scrape_interval: {_duration(interval)}",
        f"    scrape_timeout: {_duration(min(interval, 5.0))}",
        "    relabel_configs:",
        "      - {source_labels: [__address__], target_label: __param_target}",
        "      - {source_labels: [__param_target], target_label: instance}",
        f"      - {{target_label: __address__, replacement: '{blackbox.address}'}}",
        "    static_configs:",
        "      - targets:",
    ]
    lines += [f"          - {t}" for t in targets]
    return "\n".join(lines) + "\n"


def agent_scrape_config(address: str, interval: float) -> str:
    return (
        "  - job_name: oversight\n"
        f"    scrape_interval: {_duration(interval)}\n"
        f"    scrape_timeout: {_duration(min(interval, 10.0))}\n"
        f"    static_configs: [{{targets: ['{address}']}}]\n"
    )


def start_prometheus(procs: Procs, scrape_configs: str, name: str = "prometheus") -> Prometheus:
    directory = procs.workdir / name
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    conf = directory / "prometheus.yml"
    conf.write_text("global: {evaluation_interval: 1m}\nscrape_configs:\n" + scrape_configs)
    port = free_port()
    argv = [
        PROMETHEUS,
        f"--config.file={conf}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    proc = procs.start(name, argv)
    wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=60, proc=proc)
    return Prometheus(proc, port)
