"""``python -m bench``: the agent side by side with blackbox_exporter; writes bench/RESULTS.md.

Full run (about 20 minutes): ``make bench`` or ``python -m bench``. Smoke run: ``--quick``
(about 5 minutes). Reliability instead: ``python -m bench faults`` (bench/FAULTS.md, about 10
minutes) and ``python -m bench soak`` (bench/SOAK.md, 30 minutes). Runs as root installs
missing peers with apt-get; every process started is stopped on the way out, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import machine, peers, pyspy, readme, render, report, scaling, scaling_report
from bench.procs import Procs
from bench.scaling import AgentFigures, ScalingOutcome, ScalingPlan
from bench.scenarios import Outcome, Plan, run

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Suite:
    """How big and how long: the full run, ``--quick`` and the test suite's ``tiny``."""

    targets: int  # integrations for the per-rate runs
    rates: tuple[float, ...]
    kinds: tuple[str, ...]
    windows: int
    window: float
    scale: int  # integrations for the sustained run (every 10 s)
    scale_windows: int
    scale_window: float
    scale_blackbox: bool  # also Prometheus + blackbox at the scale (slow: it cannot keep up)
    render_integrations: int
    warmup: float | None = None
    variants: tuple[str, ...] = ()  # named agent variants also measured beside the default


SUITES = {
    "full": Suite(
        targets=1000,
        rates=(100, 500, 1000),
        kinds=("agent_stack", "blackbox_direct", "blackbox_stack", "floor"),
        windows=3,
        window=10.0,
        scale=10_000,
        scale_windows=3,
        scale_window=20.0,
        scale_blackbox=True,
        render_integrations=10_000,
    ),
    "quick": Suite(
        targets=500,
        rates=(100, 1000),
        kinds=("agent_stack", "blackbox_direct", "blackbox_stack", "floor"),
        windows=2,
        window=5.0,
        scale=2000,
        scale_windows=2,
        scale_window=10.0,
        scale_blackbox=False,
        render_integrations=1000,
    ),
    "tiny": Suite(
        targets=6,
        rates=(6,),
        kinds=("agent_stack", "blackbox_direct"),
        windows=1,
        window=2.0,
        scale=0,
        scale_windows=0,
        scale_window=0,
        scale_blackbox=False,
        render_integrations=0,
        warmup=1.5,
    ),
}


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _summary(out: Outcome) -> str:
    variant = f" ({out.plan.variant})" if out.plan.variant else ""
    parts = [f"{out.plan.kind}{variant} {out.plan.targets}@{out.plan.interval:g}s:"]
    for name in out.cpu_ms_per_probe:
        parts.append(f"{name} {out.cpu_median(name):.3f} ms/probe")
    parts.append(f"{sum(out.probes_per_s) / max(1, len(out.probes_per_s)):.0f} probes/s")
    if out.schedule_error_ms:
        parts.append(f"error p99 {out.schedule_error_ms['p99']:.0f} ms")
    return " ".join(parts)


def run_suite(suite: Suite, workdir: Path, with_profile: bool) -> dict[str, Any]:
    procs = Procs(workdir)
    results: dict[str, Any] = {"rates": [], "scale": [], "render": None, "profile": None}
    try:
        for rate in suite.rates:
            runs = [(kind, "") for kind in suite.kinds]
            runs += [("agent_stack", variant) for variant in suite.variants]
            for kind, variant in runs:
                plan = Plan(
                    kind,
                    suite.targets,
                    suite.targets / rate,
                    windows=suite.windows,
                    window=max(suite.window, suite.targets / rate),
                    warmup=suite.warmup,
                    variant=variant,
                )
                _log(f"{kind}{f' ({variant})' if variant else ''}: {suite.targets} at {rate:g}/s")
                outcome = run(plan, procs, _log)
                _log(_summary(outcome))
                results["rates"].append(outcome)
        if suite.scale:
            runs = [("agent", ""), *(("agent", v) for v in suite.variants)]
            runs += [("blackbox_stack", "")] if suite.scale_blackbox else []
            for kind, variant in runs:
                windows = suite.scale_windows if kind == "agent" else 2
                plan = Plan(
                    kind,
                    suite.scale,
                    10.0,
                    windows=windows,
                    window=suite.scale_window if kind == "agent" else 10.0,
                    scrape_every=10.0 if kind == "agent" else None,
                    variant=variant,
                )
                _log(f"{kind}{f' ({variant})' if variant else ''}: {suite.scale} every 10 s")
                outcome = run(plan, procs, _log)
                _log(_summary(outcome))
                results["scale"].append(outcome)
        if suite.render_integrations:
            _log(f"render: {suite.render_integrations} integrations, both ways")
            results["render"] = {
                "integrations": suite.render_integrations,
                **render.compare(suite.render_integrations, repeat=1),
            }
        if with_profile:
            results["profile"] = _profile(suite, procs, workdir)
    finally:
        procs.stop_all()
        results["pids"] = procs.history
    return results


def _profile(suite: Suite, procs: Procs, workdir: Path) -> dict[str, Any] | None:
    """py-spy on the agent at the top rate: a run of its own, as sampling costs CPU too."""
    if not pyspy.available():
        _log("py-spy not found (pip install 'oversight[bench]'): no profile")
        return None
    rate = max(suite.rates)
    raw = workdir / "agent-profile.txt"
    interval = suite.targets / rate
    plan = Plan(  # /metrics scraped at the interval, as Prometheus does in the agent_stack runs
        "agent",
        suite.targets,
        interval,
        windows=1,
        window=20.0,
        profile=str(raw),
        scrape_every=max(interval, 1.0),
    )
    _log(f"profile: py-spy on the agent, {suite.targets} targets at {rate:g}/s")
    run(plan, procs, _log)
    time.sleep(2)  # py-spy writes its file when its duration ends
    if not raw.exists():
        return None
    return {"rate": rate, "targets": suite.targets, **pyspy.summarize(raw)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["faults"]:  # hostile targets, clients and outages: bench/FAULTS.md
        from bench import faults

        return faults.main(argv[1:])
    if argv[:1] == ["soak"]:  # 30 minutes of the hostile mix: bench/SOAK.md
        from bench import soak

        return soak.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # the test's
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument(
        "--json", type=Path, default=None, help="raw results (default: beside --out)"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy run")
    parser.add_argument("--no-install", action="store_true", help="never run apt-get")
    parser.add_argument(
        "--report-only", type=Path, metavar="JSON", help="rewrite --out from saved raw results"
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="only the scale figure: one agent holding 20,000 probes every 20 s beside 4 "
        "shards of it (--quick: 4,000); writes bench/SCALING.md and bench/SCALING.json",
    )
    args = parser.parse_args(argv)
    if args.scaling:
        return _scaling(args)
    if args.report_only:
        meta, results = _load(args.report_only)
        args.out.write_text(report.markdown(meta, results))
        return 0
    name = "tiny" if args.tiny else "quick" if args.quick else "full"
    suite = SUITES[name]
    needed = [peers.NGINX, peers.BLACKBOX, peers.PROMETHEUS]
    if args.no_install:
        missing = peers.missing_packages(needed)
        if missing:
            print(f"missing: {', '.join(missing)}", file=sys.stderr)
            return 2
    else:
        peers.ensure_packages(needed)
    started = time.time()
    info = machine.describe()
    load_before = machine.load()
    with tempfile.TemporaryDirectory(prefix="oversight-bench-") as tmp:
        results = run_suite(suite, Path(tmp), with_profile=not args.no_profile and name != "tiny")
    meta = {
        "suite": name,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "minutes": (time.time() - started) / 60,
        "machine": info,
        "load_before": load_before,
        "load_after": machine.load(),
        "command": "python -m bench" + (" --quick" if name == "quick" else ""),
    }
    args.out.write_text(report.markdown(meta, results))
    raw = args.json or args.out.with_suffix(".json")
    raw.write_text(json.dumps(_plain(meta, results), indent=1, default=str))
    _log(f"wrote {args.out} and {raw} in {meta['minutes']:.1f} min")
    return 0


SCALING = {
    "full": ScalingPlan(20_000, 20.0, 4),
    "quick": ScalingPlan(4_000, 20.0, 4, windows=2),
    "tiny": ScalingPlan(60, 2.0, 2, windows=1, window=2.0, warmup=1.0),
}


def _scaling(args: argparse.Namespace) -> int:
    """``--scaling``: the one run, its report and raw figures."""
    name = "tiny" if args.tiny else "quick" if args.quick else "full"
    out = args.out if args.out != HERE / "RESULTS.md" else HERE / "SCALING.md"
    if args.report_only:
        raw = json.loads(args.report_only.read_text())
        out.write_text(scaling_report.markdown(raw["meta"], _scaling_outcome(raw)))
        return 0
    if args.no_install:
        missing = peers.missing_packages([peers.NGINX])
        if missing:
            print(f"missing: {', '.join(missing)}", file=sys.stderr)
            return 2
    else:
        peers.ensure_packages([peers.NGINX])
    started = time.time()
    info = machine.describe()
    with tempfile.TemporaryDirectory(prefix="oversight-bench-") as tmp:
        procs = Procs(Path(tmp))
        try:
            outcome = scaling.run(SCALING[name], procs, _log)
        finally:
            procs.stop_all()
    meta = {
        "suite": name,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "minutes": (time.time() - started) / 60,
        "machine": info,
        "command": "python -m bench --scaling" + (" --quick" if name == "quick" else ""),
        "pids": procs.history,
    }
    out.write_text(scaling_report.markdown(meta, outcome))
    if name == "full":  # the README speaks of the full run only
        readme.replace_block(
            HERE.parent / "README.md",
            "scaling",
            "python -m bench --scaling",
            scaling_report.readme_lines(meta, outcome),
        )
    raw = args.json or out.with_suffix(".json")
    raw.write_text(
        json.dumps(
            {"meta": meta, "outcome": asdict(outcome), "figures": scaling_report.figures(outcome)},
            indent=1,
        )
    )
    _log(f"wrote {out} and {raw} in {meta['minutes']:.1f} min")
    return 0


def _scaling_outcome(raw: dict[str, Any]) -> ScalingOutcome:
    data = dict(raw["outcome"])
    return ScalingOutcome(
        plan=ScalingPlan(**data["plan"]),
        single=[AgentFigures(**f) for f in data["single"]],
        sharded=[AgentFigures(**f) for f in data["sharded"]],
        extra=data["extra"],
    )


def _plain(meta: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    def outcome(o: Outcome) -> dict[str, Any]:
        return asdict(o)

    return {
        "meta": meta,
        "rates": [outcome(o) for o in results["rates"]],
        "scale": [outcome(o) for o in results["scale"]],
        "render": results["render"],
        "profile": results["profile"],
        "pids": results["pids"],
    }


def _load(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    raw = json.loads(path.read_text())

    def outcome(d: dict[str, Any]) -> Outcome:
        d = dict(d)
        plan = Plan(**d.pop("plan"))
        return Outcome(plan=plan, **d)

    results = {
        "rates": [outcome(o) for o in raw["rates"]],
        "scale": [outcome(o) for o in raw["scale"]],
        "render": raw["render"],
        "profile": raw["profile"],
        "pids": raw.get("pids", []),
    }
    return raw["meta"], results


if __name__ == "__main__":
    sys.exit(main())
