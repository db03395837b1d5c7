"""``python -m bench faults``: the agent among hostile targets, hostile clients and broken
outputs, measured from outside; writes bench/FAULTS.md, bench/FAULTS.json and the README's
reliability table (the tests in tests/faults assert the behaviour, this measures it).

Healthy targets are nginx paths (``/t/<n>``), so each healthy probe's schedule error is read
from nginx's access log, as in the performance run: the agent's lag histogram cannot tell
healthy probes from hostile ones, and a series per probe would cost the series budget. The
hostile targets (bench/hostile.py: the test suite's peers) run in a process of their own.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench import faults_report, peers, readme
from bench.accesslog import count_between, lost_runs, read_hits, schedule_errors
from bench.faults_report import GOAL_LINGER
from bench.procs import Proc, Procs, free_port, wait_http
from bench.watch import Healthz, ProcessView, get, lag_p99, percentile, samples, tasks, value

HERE = Path(__file__).resolve().parent
HOSTILE = HERE / "hostile.py"


@dataclass(frozen=True)
class Mix:
    healthy: int
    hostile: int
    interval: float
    timeout: float

    @property
    def name(self) -> str:
        return f"{self.healthy + self.hostile:,} targets, {self.hostile:,} hostile"


@dataclass(frozen=True)
class Suite:
    mix: Mix
    scale: Mix
    steady: float  # seconds measured
    warmup: float
    abuse: float


SUITES = {
    "full": Suite(Mix(900, 100, 10.0, 5.0), Mix(9000, 1000, 30.0, 5.0), 60.0, 25.0, 30.0),
    "quick": Suite(Mix(450, 50, 10.0, 5.0), Mix(1800, 200, 20.0, 5.0), 30.0, 20.0, 15.0),
}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def config_yaml(
    listen: str, nginx: peers.Nginx, blocks: dict[str, Any], mix: Mix, extra: str = ""
) -> str:
    """Healthy http probes of nginx paths, and hostile probes of every behaviour in turn."""
    lines = [
        f'agent: {{listen: "{listen}", interval: {mix.interval:g}s, timeout: {mix.timeout:g}s,'
        " name: faults}",
        extra.rstrip("\n"),
        "patterns:",
    ]
    for pattern in ("bill_pay", "account", "client"):
        members = [
            n for n in range(mix.healthy) if ("bill_pay", "account", "client")[n % 3] == pattern
        ]
        if not members:
            continue
        lines += [f"  {pattern}:", "    integrations:"]
        for n in members:
            lines += [
                f"      i{n}:",
                "        scope: internal",
                "        probes:",
                f"          health: {{http: {{url: '{nginx.url(n)}'}},"
                " conditions: ['[STATUS] == 200']}",
            ]
    if mix.hostile:
        lines += ["  hostile:", "    integrations:"]
        kinds = sorted(blocks)
        for k in range(mix.hostile):
            block = json.dumps(blocks[kinds[k % len(kinds)]])
            lines += [
                f"      x{k}:",
                "        scope: external",
                f"        probes: {{case: {block}}}",
            ]
    return "\n".join(line for line in lines if line) + "\n"


class Stage:
    """One agent process among the peers, watched: figures per measured window."""

    def __init__(
        self,
        procs: Procs,
        nginx: peers.Nginx,
        blocks: dict[str, Any],
        mix: Mix,
        name: str,
        *,
        env: dict[str, str] | None = None,
        extra: str = "",
    ) -> None:
        self.procs, self.nginx, self.blocks, self.mix = procs, nginx, blocks, mix
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.config = procs.workdir / f"{name}.yaml"
        self.valid = config_yaml(f"127.0.0.1:{self.port}", nginx, blocks, mix, extra)
        self.config.write_text(self.valid)
        argv = [sys.executable, "-m", "agent.cli", "run", "-c", str(self.config)]
        argv += ["--log-level", "warning", "--web.enable-lifecycle"]
        self.agent: Proc = procs.start(f"agent-{name}", argv, env=env)
        wait_http(self.base + "/healthz", timeout=120, proc=self.agent)
        self.view = ProcessView(self.agent.pid)
        self.healthz = Healthz(self.base)
        self.healthz.start()
        self.overrun = 0.0  # the longest hostile run past its timeout, seconds
        self.started = time.time()

    def metrics(self) -> str:
        return get(self.base + "/metrics", timeout=60)[1].decode()

    def note_durations(self, text: str) -> None:
        for labels, seconds in samples(text, "probe_duration_seconds")["probe_duration_seconds"]:
            if 'pattern="hostile"' in labels:
                self.overrun = max(self.overrun, seconds - self.mix.timeout)

    def window(self, seconds: float, during: Callable[[], None] | None = None) -> dict[str, Any]:
        """Measure ``seconds``: healthy lag (nginx), missed runs, /healthz, the agent's lag
        histogram, the longest hostile run."""
        before = self.metrics()
        start = time.time()
        if during is not None:
            during()
        while time.time() < start + seconds:
            time.sleep(min(10.0, start + seconds - time.time()))
            self.note_durations(self.metrics())
        end = time.time()
        after = self.metrics()
        time.sleep(1.5)  # nginx writes its log every second
        hits, _ = read_hits(self.nginx.access_log)
        errors = schedule_errors(hits, self.mix.interval, start, end)
        healthz = self.healthz.between(start, end)
        return {
            "seconds": round(end - start, 1),
            "healthy_lag_p99": percentile(errors, 99),
            "healthy_lag_max": max(errors, default=float("nan")),
            "healthy_missed": lost_runs(hits, self.mix.interval, start, end),
            "healthy_seen": count_between(hits, start, end),
            "healthz_p99": percentile(healthz, 99),
            "healthz_max": max(healthz, default=float("nan")),
            "healthz_answers": len(healthz),
            "agent_lag_p99_all": _lag_delta(before, after),
            "overrun_max": self.overrun,
            "rss_mib": self.view.rss_mib(),
            "fds": self.view.fds(),
        }

    def stop(self) -> float:
        """SIGTERM; seconds to exit."""
        self.healthz.stopping.set()
        began = time.monotonic()
        os.killpg(self.agent.pid, signal.SIGTERM)
        try:
            self.agent.popen.wait(30)
        finally:
            self.procs.stop(self.agent)
        return time.monotonic() - began


def _lag_delta(before: str, after: str) -> float | None:
    """p99 of the lag histogram's samples between two scrapes."""
    name = "oversight_scheduler_lag_seconds_bucket"
    old = dict(samples(before, name)[name])
    new = samples(after, name)[name]
    lines = "\n".join(f"{name}{{{labels}}} {count - old.get(labels, 0)}" for labels, count in new)
    return lag_p99(lines)


def _until(check: Callable[[], bool], limit: float, every: float = 0.02) -> float | None:
    """Seconds until ``check()`` holds; None if it never did within ``limit``."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        try:
            if check():
                return time.monotonic() - began
        except OSError:
            pass
        time.sleep(every)
    return None


def _reloads(stage: Stage) -> dict[str, Any]:
    """A broken file by SIGHUP and by POST, then 20 SIGHUPs in a second (broken and valid in
    turn), then the valid file again; measured: how soon the metric says so, runs lost."""
    broken = stage.valid.replace("interval: ", "interval: soon", 1)
    reloaded = "oversight_config_last_reload_successful"
    figures: dict[str, Any] = {}

    def run() -> None:
        stage.config.write_text(broken)
        os.kill(stage.agent.pid, signal.SIGHUP)
        figures["sighup_seen_s"] = _until(lambda: value(stage.metrics(), reloaded) == 0, 5)
        stage.config.write_text(stage.valid)
        os.kill(stage.agent.pid, signal.SIGHUP)
        _until(lambda: value(stage.metrics(), reloaded) == 1, 5)
        stage.config.write_text(broken)
        began = time.monotonic()
        status, _ = get(stage.base + "/-/reload", post=True)
        seen = _until(lambda: value(stage.metrics(), reloaded) == 0, 5)
        figures["post_status"] = status
        figures["post_seen_s"] = None if seen is None else time.monotonic() - began
        for n in range(20):
            stage.config.write_text(broken if n % 2 == 0 else stage.valid)
            os.kill(stage.agent.pid, signal.SIGHUP)
            time.sleep(0.05)
        figures["burst_settled_s"] = _until(lambda: value(stage.metrics(), reloaded) == 1, 10)

    window = stage.window(20.0, run)
    return figures | window


def _audit(stage: Stage, audit: Path) -> dict[str, Any]:
    """The audit file swapped for /dev/full (every write: ENOSPC) for 20 s, then restored."""
    figures: dict[str, Any] = {}
    good = audit.read_bytes()

    def run() -> None:
        audit.unlink()
        audit.symlink_to("/dev/full")
        os.kill(stage.agent.pid, signal.SIGHUP)  # an event to write
        figures["not_ready_after_s"] = _until(
            lambda: get(stage.base + "/readyz")[0] == 503, 10, every=0.1
        )
        figures["readyz"] = get(stage.base + "/readyz")[1].decode().strip()

    window = stage.window(20.0, run)
    figures["write_failures"] = value(stage.metrics(), "oversight_audit_write_failures_total")
    audit.unlink()
    audit.write_bytes(good)
    figures["ready_again_after_s"] = _until(lambda: get(stage.base + "/readyz")[0] == 200, 15, 0.1)
    return figures | window


def _drain(stage: Stage, ports: set[int]) -> dict[str, Any]:
    """Reload without the hostile probes: how long their sockets, tasks and threads stay."""
    before = {"tasks": tasks(stage.base), "threads": stage.view.threads()}
    healthy_only = Mix(stage.mix.healthy, 0, stage.mix.interval, stage.mix.timeout)
    stage.config.write_text(
        config_yaml(f"127.0.0.1:{stage.port}", stage.nginx, stage.blocks, healthy_only)
    )
    os.kill(stage.agent.pid, signal.SIGHUP)
    began = time.monotonic()
    gone = _until(lambda: stage.view.sockets_to(ports) == 0, stage.mix.timeout + 30, 0.1)
    time.sleep(max(0.0, stage.mix.timeout + GOAL_LINGER - (time.monotonic() - began)))
    return {
        "sockets_gone_s": gone,
        "tasks_before": before["tasks"],
        "tasks_after": tasks(stage.base),
        "threads_before": before["threads"],
        "threads_after": stage.view.threads(),
        "children_after": stage.view.children(),
    }


def run_suite(suite: Suite, procs: Procs) -> dict[str, Any]:
    results: dict[str, Any] = {}
    directory = procs.workdir / "hostile"
    directory.mkdir()
    hostile = procs.start("hostile", [sys.executable, str(HOSTILE), "--dir", str(directory)])
    deadline = time.monotonic() + 60
    while not (directory / "hostile.json").exists():
        if time.monotonic() > deadline or hostile.popen.poll() is not None:
            raise RuntimeError(f"the hostile peers did not start: {hostile.tail()}")
        time.sleep(0.2)
    behaviours: dict[str, Any] = json.loads((directory / "hostile.json").read_text())
    blocks = {k: v for k, v in behaviours.items() if k != "otlp black hole"}
    hole = behaviours["otlp black hole"]["port"]
    ports = _ports(blocks)
    nginx = peers.start_nginx(procs, name="nginx-faults")
    mix = suite.mix

    log(f"{mix.name}: steady, listener abuse, reloads, audit failing, drain")
    audit = procs.workdir / "audit" / "audit.jsonl"
    stage = Stage(procs, nginx, blocks, mix, "mix", extra=f"audit: {{path: {audit}}}")
    time.sleep(suite.warmup)
    results["steady"] = stage.window(suite.steady)
    log(f"steady: {_brief(results['steady'])}")
    abuse = [
        sys.executable, str(HOSTILE), "--clients", str(stage.port),
        "--idle", "1000", "--slow", "200", "--seconds", str(suite.abuse),
    ]  # fmt: skip
    clients = procs.start("abuse", abuse)
    time.sleep(2.0)  # let them fill the port
    results["abuse"] = stage.window(suite.abuse - 4.0)
    procs.stop(clients)
    log(f"abuse: {_brief(results['abuse'])}")
    results["reload"] = _reloads(stage)
    log(f"reload: {_brief(results['reload'])}")
    results["audit"] = _audit(stage, audit)
    log(f"audit: {_brief(results['audit'])}")
    results["drain"] = _drain(stage, ports)
    log(f"drain: {results['drain']}")
    results["stop_s"] = stage.stop()

    for name, endpoint in (
        ("otlp_closed", f"http://127.0.0.1:{free_port()}"),
        ("otlp_black_hole", f"http://127.0.0.1:{hole}"),
    ):
        log(f"{mix.name}: {name}")
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": "10000",
            "OTEL_BSP_SCHEDULE_DELAY": "1000",
            "OTEL_BSP_MAX_QUEUE_SIZE": "256",  # small, so that the drops show in a minute
        }
        stage = Stage(procs, nginx, blocks, mix, name, env=env)
        first = _until(partial(_failed, stage), 60, 0.2)
        time.sleep(max(0.0, suite.warmup - (time.time() - stage.started)))
        figures = stage.window(suite.steady)
        text = stage.metrics()
        figures |= {
            "first_failure_s": first,
            "export_interval_s": 10.0,
            "failures": value(text, "oversight_export_failures_total"),
            "dropped": value(text, "oversight_export_dropped_total"),
            "rss_start_mib": figures["rss_mib"],
        }
        time.sleep(10)
        figures["rss_end_mib"] = stage.view.rss_mib()
        figures["stop_s"] = stage.stop()
        results[name] = figures
        log(f"{name}: {_brief(figures)}")

    scale = suite.scale
    log(f"{scale.name}: steady")
    stage = Stage(procs, nginx, blocks, scale, "scale")
    time.sleep(scale.interval + 15.0)
    results["scale"] = stage.window(max(suite.steady, 3 * scale.interval))
    results["scale"]["stop_s"] = stage.stop()
    log(f"scale: {_brief(results['scale'])}")
    results["mix"] = mix.__dict__ | {"name": mix.name}
    results["scale_mix"] = scale.__dict__ | {"name": scale.name}
    results["behaviours"] = sorted(blocks)
    return results


def _failed(stage: Stage) -> bool:
    return (value(stage.metrics(), "oversight_export_failures_total") or 0) >= 1


def _ports(blocks: dict[str, Any]) -> set[int]:
    ports = set()
    for block in blocks.values():
        text = json.dumps(block)
        for part in text.replace('"', " ").split():
            host, _, port = part.rstrip("/,}").rpartition(":")
            if host.endswith("127.0.0.1") and port.split("/")[0].isdigit():
                ports.add(int(port.split("/")[0]))
    return ports


def _brief(figures: dict[str, Any]) -> str:
    keys = ("healthy_lag_p99", "healthz_p99", "overrun_max", "healthy_missed")
    return ", ".join(f"{k} {figures.get(k)}" for k in keys if k in figures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench faults", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller, shorter run")
    parser.add_argument("--out", type=Path, default=HERE / "FAULTS.md")
    parser.add_argument("--readme", type=Path, default=HERE.parent / "README.md")
    parser.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    parser.add_argument("--report-only", type=Path, metavar="JSON")
    args = parser.parse_args(argv)
    if args.report_only:
        raw = json.loads(args.report_only.read_text())
    else:
        missing = peers.missing_packages([peers.NGINX])
        if missing:
            print(f"missing: {', '.join(missing)}", file=sys.stderr)
            return 2
        name = "quick" if args.quick else "full"
        started = time.time()
        import tempfile

        from bench import machine

        load_before = machine.load()

        with tempfile.TemporaryDirectory(prefix="oversight-faults-") as tmp:
            procs = Procs(Path(tmp))
            try:
                results = run_suite(SUITES[name], procs)
            finally:
                procs.stop_all()
        raw = {
            "meta": {
                "suite": name,
                "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
                "minutes": (time.time() - started) / 60,
                "machine": machine.describe(),
                "load_before": load_before,
                "load_after": machine.load(),
                "command": "python -m bench faults" + (" --quick" if args.quick else ""),
            },
            "results": results,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str))
    args.out.write_text(faults_report.markdown(raw))
    if not args.no_readme:
        readme.replace_block(
            args.readme, "reliability", "python -m bench faults", faults_report.readme_lines(raw)
        )
    log(f"wrote {args.out}")
    return 0 if faults_report.all_met(raw) else 1
