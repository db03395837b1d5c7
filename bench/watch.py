"""Watching a running agent from outside: /healthz latency, a few samples of /metrics, the
status API's task count, and what /proc says of the process (RSS, descriptors, threads,
children, sockets to given ports)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil


def get(url: str, timeout: float = 10.0, post: bool = False) -> tuple[int, bytes]:
    """(status, body) on a fresh connection; an HTTP error status is an answer too. ``post``:
    an empty POST, as ``curl -X POST`` sends it (no body, no content type)."""
    request = urllib.request.Request(url, method="POST" if post else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Healthz(threading.Thread):
    """GET /healthz every ``every`` seconds; each answer's latency (a failure counts as the
    timeout, 5 s)."""

    def __init__(self, base: str, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.url, self.every = base + "/healthz", every
        self.samples: list[tuple[float, float]] = []  # when, seconds
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            began = time.perf_counter()
            try:
                status, _ = get(self.url, timeout=5.0)
                ok = status == 200
            except OSError:
                ok = False
            took = time.perf_counter() - began
            if not ok:
                self.failures += 1
                took = max(took, 5.0)
            self.samples.append((time.time(), took))

    def between(self, start: float, end: float) -> list[float]:
        return [s for at, s in self.samples if start <= at < end]


def samples(text: str, *names: str) -> dict[str, list[tuple[str, float]]]:
    """The samples of ``names`` in Prometheus text: name -> [(labels text, value)]. Read by
    prefix, without a full parse: /metrics of 10,000 probes is megabytes."""
    found: dict[str, list[tuple[str, float]]] = {n: [] for n in names}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name, _, rest = line.partition("{")
        if not rest:
            name, _, value = line.partition(" ")
            labels = ""
        else:
            labels, _, value = rest.rpartition("} ")
        if name in found:
            try:
                found[name].append((labels, float(value.split()[0])))
            except (ValueError, IndexError):
                continue
    return found


def value(text: str, name: str, contains: str = "") -> float | None:
    """The sum of ``name``'s samples whose labels contain ``contains``."""
    matching = [v for labels, v in samples(text, name)[name] if contains in labels]
    return sum(matching) if matching else None


def lag_p99(text: str, name: str = "oversight_scheduler_lag_seconds") -> float | None:
    """The 99th percentile bound of a histogram's buckets (the upper edge of its bucket)."""
    buckets = []
    for labels, count in samples(text, name + "_bucket")[name + "_bucket"]:
        edge = labels.split('le="', 1)[1].split('"', 1)[0]
        buckets.append((float("inf") if edge == "+Inf" else float(edge), count))
    if not buckets:
        return None
    buckets.sort()
    total = buckets[-1][1]
    return next(edge for edge, count in buckets if count >= 0.99 * total)


def tasks(base: str) -> int | None:
    """The agent's asyncio tasks, from its status API."""
    try:
        _, body = get(base + "/api/v1/status", timeout=30)
        return int(json.loads(body)["agent"]["tasks"])
    except (OSError, ValueError, KeyError):
        return None


@dataclass
class ProcessView:
    """/proc readings of one pid."""

    pid: int
    _process: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self._process = psutil.Process(self.pid)

    def rss_mib(self) -> float:
        return float(self._process.memory_info().rss) / (1 << 20)

    def fds(self) -> int:
        return len(list(Path(f"/proc/{self.pid}/fd").iterdir()))

    def threads(self) -> int:
        return int(self._process.num_threads())

    def children(self) -> int:
        return len(self._process.children(recursive=True))

    def sockets_to(self, ports: Iterable[int]) -> int:
        wanted = set(ports)
        return sum(
            1
            for c in self._process.net_connections(kind="inet")
            if c.raddr and c.raddr.port in wanted
        )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]
