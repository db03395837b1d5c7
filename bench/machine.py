"""What the run ran on: the machine, the load others put on it, and every version measured."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path

from bench import peers


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1]
    except OSError:
        pass
    return "?"


def load() -> tuple[float, float, float]:
    return os.getloadavg()


def describe() -> dict[str, str]:
    memory_kib = _first("/proc/meminfo", "MemTotal").split()[0]
    debian = _first("/etc/os-release", "PRETTY_NAME=").strip('"')

    def package(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "-"

    return {
        "cpu": f"{os.cpu_count()} x {_first('/proc/cpuinfo', 'model name')}",
        "memory": f"{int(memory_kib) / 1024 / 1024:.1f} GiB" if memory_kib.isdigit() else "?",
        "os": f"{debian}, Linux {platform.release()}",
        "python": platform.python_version(),
        "oversight": package("oversight"),
        "aiohttp": package("aiohttp"),
        "prometheus_client": package("prometheus-client"),
        "nginx": peers.version(peers.NGINX),
        "blackbox_exporter": peers.version(peers.BLACKBOX),
        "prometheus": peers.version(peers.PROMETHEUS),
    }
