"""The scale figure: one config of N HTTP probes held by one agent, then by n shards side by side.

Both runs probe the same nginx with the same config (``bench/configs.py``, every feature on),
each agent scraped on its /metrics at the probe interval as Prometheus would. The shards are n
``oversight run --shard i/n`` processes at once on this machine: what a StatefulSet of n pods
(one of each HA pair) would cost a node. Per agent, from outside the process: CPU (cores, and
ms per probe it ran), peak and final RSS, how long until /readyz, probes per second, schedule
error against each target's grid, missed runs and scrape times. The targets of each shard are
known from the agent's own assignment (``agent.sharding.owner``).
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.sharding import owner
from bench import peers
from bench.accesslog import Hit, count_between, missed_runs, percentile, read_hits, schedule_errors
from bench.configs import PATTERNS, agent_yaml
from bench.procs import Proc, Procs, free_port, rss_mib, wait_http
from bench.scenarios import Scraper


@dataclass(frozen=True)
class ScalingPlan:
    targets: int  # HTTP integrations in the one config, one probe each
    interval: float  # seconds
    shards: int
    windows: int = 3
    window: float = 20.0
    warmup: float | None = None  # after every agent is ready; default two intervals and 3 s

    @property
    def rate(self) -> float:
        return self.targets / self.interval


@dataclass
class AgentFigures:
    """One agent process of a run: what it held and what it cost."""

    name: str  # "all" or the shard, "1/4"
    probes: int  # probes in its share
    cpu_cores: list[float] = field(default_factory=list)  # per window
    cpu_ms_per_probe: list[float] = field(default_factory=list)  # per window
    probes_per_s: list[float] = field(default_factory=list)  # per window, counted at nginx
    peak_rss_mib: float = 0.0
    rss_end_mib: float = 0.0
    ready_s: float = 0.0  # from start to /readyz answering 200
    schedule_error_ms: dict[str, float] = field(default_factory=dict)  # p50, p99, max
    missed: int = 0
    scrapes: list[tuple[float, int]] = field(default_factory=list)  # seconds, bytes


@dataclass
class ScalingOutcome:
    plan: ScalingPlan
    single: list[AgentFigures] = field(default_factory=list)  # one agent holding everything
    sharded: list[AgentFigures] = field(default_factory=list)  # one per shard
    extra: dict[str, Any] = field(default_factory=dict)


def probe_id(index: int) -> str:
    """The id bench/configs.py gives target ``index``'s probe."""
    return f"{PATTERNS[index % len(PATTERNS)]}/i{index}/health"


def share(targets: int, shard: int, total: int) -> set[int]:
    return {i for i in range(targets) if owner(probe_id(i), total) == shard}


def _start(procs: Procs, config: Path, name: str, shard: str | None) -> tuple[Proc, str]:
    address = f"127.0.0.1:{free_port()}"
    argv = [sys.executable, "-m", "agent.cli", "run", "-c", str(config), "--listen", address]
    argv += ["--log-level", "warning", *(["--shard", shard] if shard else [])]
    return procs.start(name, argv), address


def _run_agents(
    plan: ScalingPlan,
    procs: Procs,
    nginx: peers.Nginx,
    config: Path,
    shards: list[str | None],
    log: Callable[[str], None],
) -> list[AgentFigures]:
    """Start one agent per entry of ``shards`` (None: every probe) together, wait until all are
    ready, measure the windows, stop them."""
    started = time.monotonic()
    agents = [
        _start(procs, config, f"agent-{(shard or 'all').replace('/', 'of')}", shard)
        for shard in shards
    ]
    figures: list[AgentFigures] = []
    scrapers: list[Scraper] = []
    try:
        for (proc, address), shard in zip(agents, shards, strict=True):
            wait_http(f"http://{address}/readyz", timeout=600, proc=proc)
            total = int(shard.split("/")[1]) if shard else 1
            index = int(shard.split("/")[0]) if shard else 0
            held = plan.targets if shard is None else len(share(plan.targets, index, total))
            figures.append(AgentFigures(shard or "all", held, ready_s=time.monotonic() - started))
        log(f"  ready: {', '.join(f'{f.name} {f.ready_s:.0f} s' for f in figures)}")
        for _, address in agents:
            scraper = Scraper(f"http://{address}/metrics", plan.interval)
            scraper.start()
            scrapers.append(scraper)
        time.sleep(plan.warmup if plan.warmup is not None else 2 * plan.interval + 3.0)
        edges: list[tuple[float, list[float]]] = []
        for _ in range(plan.windows + 1):
            if edges:
                time.sleep(max(0.0, edges[0][0] + len(edges) * plan.window - time.time()))
            edges.append((time.time(), [proc.cpu() for proc, _ in agents]))
        for (proc, _), figure in zip(agents, figures, strict=True):
            figure.peak_rss_mib = proc.peak_rss()
            figure.rss_end_mib = rss_mib(proc.pid)
        for scraper, figure in zip(scrapers, figures, strict=True):
            scraper.stopping.set()
            scraper.join(65)
            figure.scrapes = [(seconds, size) for _, seconds, size in scraper.samples]
        time.sleep(1.5)  # nginx flushes its access log every second
        hits, _ = read_hits(nginx.access_log)
        for position, (figure, shard) in enumerate(zip(figures, shards, strict=True)):
            mine = _hits_of(hits, plan, shard)
            for (t0, c0), (t1, c1) in itertools.pairwise(edges):
                count = count_between(mine, t0, t1)
                cpu = c1[position] - c0[position]
                figure.probes_per_s.append(count / (t1 - t0))
                figure.cpu_cores.append(cpu / (t1 - t0))
                figure.cpu_ms_per_probe.append(1000 * cpu / max(count, 1))
            start, end = edges[0][0], edges[-1][0]
            errors = schedule_errors(mine, plan.interval, start, end)
            figure.schedule_error_ms = {
                "p50": 1000 * percentile(errors, 50),
                "p99": 1000 * percentile(errors, 99),
                "max": 1000 * max(errors, default=float("nan")),
            }
            figure.missed = missed_runs(mine, figure.probes, plan.interval, start, end)
        return figures
    finally:
        for scraper in scrapers:
            scraper.stopping.set()
        for proc, _ in agents:
            procs.stop(proc)


def _hits_of(hits: list[Hit], plan: ScalingPlan, shard: str | None) -> list[Hit]:
    if shard is None:
        return hits
    index, total = (int(part) for part in shard.split("/"))
    owned = share(plan.targets, index, total)
    return [hit for hit in hits if hit.target in owned]


def run(plan: ScalingPlan, procs: Procs, log: Callable[[str], None]) -> ScalingOutcome:
    """One agent with every probe, then ``plan.shards`` agents with a shard each."""
    out = ScalingOutcome(plan)
    out.extra["load_before"] = os.getloadavg()[0]
    nginx = peers.start_nginx(procs, name=f"nginx-scaling-{plan.targets}")
    try:
        config = procs.workdir / f"scaling-{plan.targets}.yaml"
        urls = [nginx.url(i) for i in range(plan.targets)]
        config.write_text(agent_yaml("127.0.0.1:0", urls, plan.interval, min(plan.interval, 5)))
        log(f"scaling: one agent, {plan.targets} probes every {plan.interval:g} s")
        out.single = _run_agents(plan, procs, nginx, config, [None], log)
        log(_summary(out.single))
        shards = [f"{i}/{plan.shards}" for i in range(plan.shards)]
        log(f"scaling: {plan.shards} shards of the same config side by side")
        out.sharded = _run_agents(plan, procs, nginx, config, shards, log)
        log(_summary(out.sharded))
    finally:
        procs.stop(nginx.proc)
    out.extra["load_after"] = os.getloadavg()[0]
    return out


def _summary(figures: list[AgentFigures]) -> str:
    return "  " + "; ".join(
        f"{f.name}: {statistics.median(f.probes_per_s):.0f} probes/s, "
        f"{statistics.median(f.cpu_cores):.2f} cores, peak {f.peak_rss_mib:.0f} MiB, "
        f"p99 {f.schedule_error_ms.get('p99', 0):.0f} ms"
        for f in figures
    )
