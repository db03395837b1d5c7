"""``python -m bench soak``: the hostile mix for 30 minutes, the collector away for the middle
third, a reload every minute (valid and broken files in turn); RSS, descriptors, asyncio
tasks, threads and children sampled every 10 s into bench/SOAK.csv, drawn in bench/SOAK.png,
judged in bench/SOAK.md (and SOAK.json).

It passes when RSS grows less than 5 % after the warm-up (the median of the last minute
against that of the first minute after it) and descriptors and tasks stay within 5 % of
their plateau (each minute's median against the median of everything after the warm-up):
medians, because a hostile run holds a socket and a task for its whole timeout and a sample
catches some number of them in flight. ``--minutes 3`` is the CI soak
(tests/soak/test_soak.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import machine, peers
from bench.faults import HOSTILE, Mix, Stage, _until, log
from bench.procs import Proc, Procs, free_port
from bench.watch import tasks, value

HERE = Path(__file__).resolve().parent
COLLECTOR = HERE / "collector.py"
SAMPLE_EVERY = 10.0
GROWTH = 0.05  # RSS after the warm-up, at most
BAND = 0.05  # descriptors and tasks around their plateau
COLUMNS = ("seconds", "rss_mib", "fds", "tasks", "threads", "children", "otlp", "reload")


@dataclass(frozen=True)
class Plan:
    minutes: float
    targets: int
    reload_every: float
    warmup: float  # seconds

    @property
    def seconds(self) -> float:
        return self.minutes * 60


def _collector(procs: Procs, port: int) -> Proc:
    return procs.start("collector", [sys.executable, str(COLLECTOR), "--port", str(port)])


def run(plan: Plan, procs: Procs) -> dict[str, Any]:
    directory = procs.workdir / "hostile"
    directory.mkdir()
    hostile = procs.start("hostile", [sys.executable, str(HOSTILE), "--dir", str(directory)])
    while not (directory / "hostile.json").exists():
        if hostile.popen.poll() is not None:
            raise RuntimeError(f"the hostile peers did not start: {hostile.tail()}")
        time.sleep(0.2)
    behaviours = json.loads((directory / "hostile.json").read_text())
    blocks = {k: v for k, v in behaviours.items() if k != "otlp black hole"}
    nginx = peers.start_nginx(procs, name="nginx-soak")
    otlp_port = free_port()
    collector: Proc | None = _collector(procs, otlp_port)
    hostile_count = plan.targets // 10
    mix = Mix(plan.targets - hostile_count, hostile_count, 10.0, 5.0)
    audit = procs.workdir / "audit" / "audit.jsonl"
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_METRIC_EXPORT_INTERVAL": "10000",
    }
    stage = Stage(procs, nginx, blocks, mix, "soak", env=env, extra=f"audit: {{path: {audit}}}")
    valid, other = stage.valid, stage.valid.replace("name: faults", "name: faults-b")
    broken = stage.valid.replace("interval: ", "interval: soon", 1)
    down = (plan.seconds / 3, 2 * plan.seconds / 3)
    rows: list[dict[str, Any]] = []
    reloads = 0
    began = time.monotonic()
    next_sample = next_reload = 0.0
    while (now := time.monotonic() - began) < plan.seconds:
        if collector is not None and down[0] <= now < down[1]:
            procs.stop(collector)
            collector = None
            log("soak: the collector is down")
        elif collector is None and now >= down[1]:
            collector = _collector(procs, otlp_port)
            log("soak: the collector is back")
        event = ""
        if now >= next_reload and now > 0:
            reloads += 1
            stage.config.write_text(broken if reloads % 2 else (valid if reloads % 4 else other))
            os.kill(stage.agent.pid, signal.SIGHUP)
            event = "broken" if reloads % 2 else "valid"
            next_reload += plan.reload_every
        elif next_reload == 0.0:
            next_reload = plan.reload_every
        if now >= next_sample:
            rows.append(
                {
                    "seconds": round(now, 1),
                    "rss_mib": round(stage.view.rss_mib(), 1),
                    "fds": stage.view.fds(),
                    "tasks": tasks(stage.base),
                    "threads": stage.view.threads(),
                    "children": stage.view.children(),
                    "otlp": "down" if collector is None else "up",
                    "reload": event,
                }
            )
            next_sample += SAMPLE_EVERY
        elif event:
            rows[-1]["reload"] = (rows[-1]["reload"] + " " + event).strip()
        time.sleep(max(0.0, min(next_sample, next_reload) - (time.monotonic() - began)))
    text = stage.metrics()
    figures = {
        "runs": value(text, "oversight_probe_runs_total"),
        "export_failures": value(text, "oversight_export_failures_total"),
        "export_dropped": value(text, "oversight_export_dropped_total"),
        "reload_failed_last": value(text, "oversight_config_last_reload_successful") == 0,
        "missed": value(text, "oversight_scheduler_skipped_runs_total", 'reason="missed"'),
        "overlap": value(text, "oversight_scheduler_skipped_runs_total", 'reason="overlap"'),
        "healthz_answers": len(stage.healthz.samples),
        "healthz_failures": stage.healthz.failures,
        "reloads": reloads,
    }
    stage.config.write_text(valid)
    os.kill(stage.agent.pid, signal.SIGHUP)
    _until(lambda: value(stage.metrics(), "oversight_config_last_reload_successful") == 1, 10)
    figures["stop_s"] = stage.stop()
    return {"rows": rows, "figures": figures, "mix": mix.__dict__ | {"name": mix.name}}


def judge(rows: list[dict[str, Any]], warmup: float) -> dict[str, Any]:
    """The pass criteria over the samples after the warm-up."""
    after = [r for r in rows if r["seconds"] >= warmup]
    per_minute = max(1, round(60 / SAMPLE_EVERY))
    verdict: dict[str, Any] = {}
    if len(after) < 2 * per_minute:
        return {"pass": False, "why": "too few samples after the warm-up"}
    first = statistics.median(r["rss_mib"] for r in after[:per_minute])
    last = statistics.median(r["rss_mib"] for r in after[-per_minute:])
    verdict["rss_start_mib"], verdict["rss_end_mib"] = first, last
    verdict["rss_growth"] = (last - first) / first
    ok = verdict["rss_growth"] < GROWTH
    for key in ("fds", "tasks"):
        values = [r[key] for r in after if r[key] is not None]
        plateau = statistics.median(values)
        minutes = [
            statistics.median(values[i : i + per_minute])
            for i in range(0, len(values) - per_minute + 1, per_minute)
        ]
        worst = max(abs(m - plateau) / plateau for m in minutes)
        verdict[f"{key}_plateau"] = plateau
        verdict[f"{key}_minute_medians"] = [min(minutes), max(minutes)]
        verdict[f"{key}_worst_drift"] = worst
        verdict[f"{key}_range"] = [min(values), max(values)]
        ok = ok and worst <= BAND
    verdict["threads_range"] = [min(r["threads"] for r in after), max(r["threads"] for r in after)]
    verdict["children_max"] = max(r["children"] for r in rows)
    ok = ok and verdict["children_max"] == 0
    verdict["pass"] = ok
    return verdict


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def plot(path: Path, rows: list[dict[str, Any]], warmup: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [r["seconds"] / 60 for r in rows]
    panels = (("rss_mib", "RSS (MiB)"), ("fds", "open fds"), ("tasks", "asyncio tasks"),
              ("threads", "threads"), ("children", "children"))  # fmt: skip
    figure, axes = plt.subplots(len(panels), 1, figsize=(10, 11), sharex=True)
    down = [m for m, r in zip(minutes, rows, strict=True) if r["otlp"] == "down"]
    for axis, (key, title) in zip(axes, panels, strict=True):
        axis.plot(minutes, [r[key] if r[key] is not None else float("nan") for r in rows])
        axis.set_ylabel(title)
        axis.axvline(warmup / 60, color="grey", linestyle=":", linewidth=1)
        if down:
            axis.axvspan(min(down), max(down), color="red", alpha=0.08)
        for m, r in zip(minutes, rows, strict=True):
            if "broken" in r["reload"]:
                axis.axvline(m, color="orange", alpha=0.15, linewidth=1)
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel(
        "minutes (dotted: end of warm-up; red: collector down; orange: broken reload)"
    )
    figure.suptitle(
        "Soak: the hostile mix, a reload a minute, the collector away a third of the time"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def markdown(raw: dict[str, Any]) -> str:
    meta, v, f = raw["meta"], raw["verdict"], raw["figures"]
    plan = raw["plan"]

    def pct(x: float) -> str:
        return f"{100 * x:+.1f} %"

    lines = [
        "# Soak: the hostile mix for a long while",
        "",
        f"Generated by `{meta['command']}` on {meta['started']} ({meta['machine']['cpu']}), "
        f"{meta['minutes']:.1f} min: {raw['mix']['name']}, every {raw['mix']['interval']:g} s "
        f"(timeout {raw['mix']['timeout']:g} s); the OTLP collector down from minute "
        f"{plan['minutes'] / 3:g} to {2 * plan['minutes'] / 3:g}; a reload every "
        f"{plan['reload_every']:g} s, broken and valid files in turn; the audit trail on. "
        f"Samples every {SAMPLE_EVERY:g} s in [`SOAK.csv`](SOAK.csv), drawn in "
        "[`SOAK.png`](SOAK.png). Warm-up: the first "
        f"{plan['warmup'] / 60:g} minutes.",
        "",
        "| criterion | measured | goal | |",
        "| --- | --- | --- | --- |",
        f"| RSS growth after the warm-up (median of the first and last minute) | "
        f"{v['rss_start_mib']:.1f} -> {v['rss_end_mib']:.1f} MiB, {pct(v['rss_growth'])} | "
        f"< {pct(GROWTH)} | {'met' if v['rss_growth'] < GROWTH else '**not met**'} |",
    ]
    for key, name in (("fds", "open descriptors"), ("tasks", "asyncio tasks")):
        worst = v[f"{key}_worst_drift"]
        lines.append(
            f"| {name}: each minute's median against the plateau ({v[f'{key}_plateau']:g}) | "
            f"{v[f'{key}_minute_medians'][0]:g} to {v[f'{key}_minute_medians'][1]:g} "
            f"(worst {100 * worst:.1f} %; samples {v[f'{key}_range'][0]}-{v[f'{key}_range'][1]}) "
            f"| within +-{100 * BAND:g} % | {'met' if worst <= BAND else '**not met**'} |"
        )
    lines += [
        f"| threads after the warm-up | {v['threads_range'][0]}-{v['threads_range'][1]} | "
        "steady | |",
        f"| child processes | at most {v['children_max']} | 0 | "
        f"{'met' if v['children_max'] == 0 else '**not met**'} |",
        "",
        f"Runs {f['runs']:.0f}; skipped as missed {f['missed']:.0f}, as overlapping "
        f"{f['overlap']:.0f}; OTLP exports failed {f['export_failures']:.0f}, spans dropped "
        f"{f['export_dropped']:.0f}; {f['reloads']} reloads; /healthz answered "
        f"{f['healthz_answers']} times, failed {f['healthz_failures']}; SIGTERM to exit "
        f"{f['stop_s']:.2f} s.",
        "",
        f"**{'Passed' if v['pass'] else 'Failed'}.**",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--reload-every", type=float, default=60.0, help="seconds")
    parser.add_argument("--warmup", type=float, default=None, help="seconds (default: a sixth)")
    parser.add_argument("--out", type=Path, default=HERE / "SOAK.md")
    args = parser.parse_args(argv)
    missing = peers.missing_packages([peers.NGINX])
    if missing:
        print(f"missing: {', '.join(missing)}", file=sys.stderr)
        return 2
    warmup = args.warmup if args.warmup is not None else args.minutes * 60 / 6
    plan = Plan(args.minutes, args.targets, args.reload_every, warmup)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="oversight-soak-") as tmp:
        procs = Procs(Path(tmp))
        try:
            result = run(plan, procs)
        finally:
            procs.stop_all()
    command = "python -m bench soak"
    if args.minutes != 30.0 or args.targets != 1000:
        command += f" --minutes {args.minutes:g} --targets {args.targets}"
    raw = {
        "meta": {
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
            "minutes": (time.time() - started) / 60,
            "machine": machine.describe(),
            "command": command,
        },
        "plan": plan.__dict__,
        "mix": result["mix"],
        "figures": result["figures"],
        "verdict": judge(result["rows"], warmup),
    }
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(out.with_suffix(".csv"), result["rows"])
    plot(out.with_suffix(".png"), result["rows"], warmup)
    out.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str))
    out.write_text(markdown(raw))
    log(f"wrote {out}: {'passed' if raw['verdict']['pass'] else 'FAILED'}")
    return 0 if raw["verdict"]["pass"] else 1
