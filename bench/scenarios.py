"""One measured run: start the peers it needs, wait out the warm-up, measure windows, stop.

CPU and peak RSS come from /proc (outside the measured processes), probes from nginx's
access log, scrape time and size from a plain HTTP client in this (unmeasured) process.
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import agentmetrics, peers, pyspy
from bench.accesslog import count_between, missed_runs, percentile, read_hits, schedule_errors
from bench.configs import agent_yaml
from bench.procs import Proc, Procs, free_port, rss_mib, wait_http

LOADGEN = Path(__file__).with_name("loadgen.py")  # run by path: bench/ is not installed


@dataclass
class Plan:
    """What to run: ``kind`` is agent, agent_stack, blackbox_direct, blackbox_stack, floor."""

    kind: str
    targets: int
    interval: float  # each target every this many seconds; rate = targets / interval
    windows: int = 3
    window: float = 10.0
    scrape_every: float | None = None  # the bench's own /metrics scrapes (agent runs)
    profile: str | None = None  # py-spy output path (agent runs): a profiling run, not timed
    warmup: float | None = None  # default: two intervals and 3 s (start-up, first round)
    variant: str = ""  # a named variant of the agent, when one is compared with the default

    @property
    def rate(self) -> float:
        return self.targets / self.interval


@dataclass
class Outcome:
    plan: Plan
    cpu_ms_per_probe: dict[str, list[float]] = field(default_factory=dict)  # per process
    probes_per_s: list[float] = field(default_factory=list)
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    schedule_error_ms: dict[str, float] = field(default_factory=dict)  # p50, p99, max
    missed: int = 0
    non_200: int = 0
    scrapes: list[tuple[float, int]] = field(default_factory=list)  # seconds, bytes
    extra: dict[str, Any] = field(default_factory=dict)

    def cpu_median(self, *names: str) -> float:
        per_window = [sum(v) for v in zip(*(self.cpu_ms_per_probe[n] for n in names), strict=True)]
        return statistics.median(per_window)

    def cpu_spread(self, *names: str) -> tuple[float, float]:
        per_window = [sum(v) for v in zip(*(self.cpu_ms_per_probe[n] for n in names), strict=True)]
        return min(per_window), max(per_window)


class Scraper(threading.Thread):
    """GET /metrics every ``every`` seconds, recording wall time and size of each scrape."""

    def __init__(self, url: str, every: float, accept: str = "") -> None:
        super().__init__(daemon=True)
        self.url, self.every, self.accept = url, every, accept
        self.samples: list[tuple[float, float, int]] = []  # when, seconds, bytes
        self.stopping = threading.Event()

    def scrape(self) -> tuple[float, int]:
        request = urllib.request.Request(self.url, headers={"Accept": self.accept})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            size = len(response.read())
        return time.perf_counter() - started, size

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            try:
                seconds, size = self.scrape()
            except OSError as exc:
                print(f"  scrape failed: {exc}", file=sys.stderr)
                continue
            self.samples.append((time.time(), seconds, size))


def _start_agent(procs: Procs, plan: Plan, nginx: peers.Nginx) -> tuple[Proc, str]:
    port = free_port()
    config = procs.workdir / f"agent-{plan.targets}.yaml"
    urls = [nginx.url(i) for i in range(plan.targets)]
    config.write_text(agent_yaml(f"127.0.0.1:{port}", urls, plan.interval, min(plan.interval, 5)))
    argv = [sys.executable, "-m", "agent.cli", "run", "-c", str(config), "--log-level", "warning"]
    proc = procs.start("agent", argv)
    wait_http(f"http://127.0.0.1:{port}/readyz", timeout=180, proc=proc)
    return proc, f"127.0.0.1:{port}"


def _loadgen(
    procs: Procs,
    nginx: peers.Nginx,
    mode: str,
    plan: Plan,
    seconds: float,
    blackbox: peers.Blackbox | None = None,
) -> Proc:
    argv = [
        sys.executable, str(LOADGEN), "--mode", mode,
        "--target-base", f"http://127.0.0.1:{nginx.port}/t/",
        "--targets", str(plan.targets), "--rate", str(plan.rate), "--duration", str(seconds),
    ]  # fmt: skip
    if blackbox is not None:
        argv += ["--blackbox", blackbox.address]
    return procs.start(f"loadgen-{mode}", argv)


def run(plan: Plan, procs: Procs, log: Callable[[str], None]) -> Outcome:
    """Run one plan to the end; every process it started is stopped before it returns."""
    out = Outcome(plan)
    measured: dict[str, Proc] = {}
    scraper: Scraper | None = None
    started: list[Proc] = []
    warmup = plan.warmup
    if warmup is None:  # Prometheus applies new targets only every 5 s: give it time
        warmup = max(2 * plan.interval + 3.0, 10.0 if "stack" in plan.kind else 0.0)
    out.extra["load_before"] = os.getloadavg()[0]
    total = warmup + plan.windows * plan.window
    try:
        nginx = peers.start_nginx(procs, name=f"nginx-{plan.kind}-{plan.targets}")
        started.append(nginx.proc)
        if plan.kind in ("agent", "agent_stack"):
            agent, address = _start_agent(procs, plan, nginx)
            started.append(agent)
            measured["agent"] = agent
            out.extra["agent_ready_rss_mib"] = agent.peak_rss()
            if plan.kind == "agent_stack":
                scrape = peers.agent_scrape_config(address, max(plan.interval, 1.0))
                measured["prometheus"] = peers.start_prometheus(procs, scrape).proc
                started.append(measured["prometheus"])
            if plan.scrape_every:
                scraper = Scraper(f"http://{address}/metrics", plan.scrape_every)
                scraper.start()
            out.extra["metrics_url"] = f"http://{address}/metrics"
        elif plan.kind in ("blackbox_direct", "blackbox_stack"):
            blackbox = peers.start_blackbox(procs)
            started.append(blackbox.proc)
            measured["blackbox"] = blackbox.proc
            if plan.kind == "blackbox_stack":
                targets = [nginx.url(i) for i in range(plan.targets)]
                scrape = peers.blackbox_scrape_config(blackbox, targets, plan.interval)
                measured["prometheus"] = peers.start_prometheus(procs, scrape).proc
                started.append(measured["prometheus"])
            else:
                started.append(_loadgen(procs, nginx, "probe", plan, total + 2, blackbox))
        elif plan.kind == "floor":
            measured["aiohttp"] = _loadgen(procs, nginx, "fresh", plan, total + 2)
            started.append(measured["aiohttp"])
        else:
            raise ValueError(plan.kind)
        if plan.profile and "agent" in measured:
            profiler = [
                pyspy.available() or "py-spy", "record", "-p", str(measured["agent"].pid),
                "-r", "100", "-f", "raw", "-d", str(int(total)), "-o", plan.profile,
                "--nonblocking",
            ]  # fmt: skip
            started.append(procs.start("py-spy", profiler))
        time.sleep(warmup)
        url = out.extra.get("metrics_url")
        before = agentmetrics.read(url) if url else None
        edges: list[tuple[float, dict[str, float]]] = []
        for _ in range(plan.windows + 1):
            if edges:
                time.sleep(max(0.0, edges[0][0] + len(edges) * plan.window - time.time()))
            edges.append((time.time(), {n: p.cpu() for n, p in measured.items()}))
        out.extra["load_after"] = os.getloadavg()[0]
        if url and before is not None:
            after = agentmetrics.read(url)
            out.extra["series_per_probe"] = after.series_per_probe
            out.extra["series_per_integration"] = after.series_per_integration
            out.extra["loop_lag"] = agentmetrics.lag_between(before, after)
        for name, proc in measured.items():
            out.peak_rss_mib[name] = proc.peak_rss()
        out.extra["rss_end_mib"] = {name: rss_mib(proc.pid) for name, proc in measured.items()}
        if scraper is not None:
            scraper.stopping.set()
            scraper.join(65)
            out.scrapes = [(s, b) for _, s, b in scraper.samples]
        time.sleep(1.5)  # nginx flushes its access log every second
        hits, _ = read_hits(nginx.access_log)
        for (t0, c0), (t1, c1) in itertools.pairwise(edges):
            count = count_between(hits, t0, t1)
            out.probes_per_s.append(count / (t1 - t0))
            for name in measured:
                out.cpu_ms_per_probe.setdefault(name, []).append(
                    1000 * (c1[name] - c0[name]) / max(count, 1)
                )
        start, end = edges[0][0], edges[-1][0]
        if plan.kind != "blackbox_direct" and plan.kind != "floor":
            errors = schedule_errors(hits, plan.interval, start, end)
            out.schedule_error_ms = {
                "p50": 1000 * percentile(errors, 50),
                "p99": 1000 * percentile(errors, 99),
                "max": 1000 * max(errors, default=float("nan")),
            }
            out.missed = missed_runs(hits, plan.targets, plan.interval, start, end)
        out.non_200 = sum(1 for h in hits if start <= h.at < end and h.status != 200)
        return out
    finally:
        if scraper is not None:
            scraper.stopping.set()
        for proc in reversed(started):
            procs.stop(proc)
