"""/metrics render time in-process, prometheus_client's encoder against exposition.Exposition.

Builds a real App over a generated config of N HTTP integrations, fills its store with
results shaped like real HTTP runs (phases, values, one failure in ten, an exemplar on some),
then renders both ways, checks they hold the same samples and reports the time of each.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics import exposition as om
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

from agent import vocabulary as v
from agent.app import App
from agent.results import Reason, Result
from bench.configs import agent_yaml
from exporters.prometheus.collector import SnapshotCollector
from exporters.prometheus.exposition import Exposition


def filled_app(integrations: int, workdir: Path, runs: int = 3, histograms: bool = False) -> App:
    """An App (not started) whose store holds ``runs`` results of every probe (and their
    run-duration histograms when ``histograms``)."""
    path = workdir / "render.yaml"
    urls = [f"http://127.0.0.1:9/t/{i}" for i in range(integrations)]
    path.write_text(agent_yaml("127.0.0.1:0", urls, 10.0, 5.0, histograms))
    app = App(path)
    rng = random.Random(7)
    for run in range(runs):
        run_all(app, rng, run)
    return app


def run_all(app: App, rng: random.Random, run: int, exposition: Exposition | None = None) -> None:
    """One more result for every probe, shaped like a real HTTP run (one failure in ten),
    handed to ``exposition`` as the Prometheus output hands it each result."""
    now = time.time()
    for index, probe_id in enumerate(app.plan.probes):
        ok = (index + run) % 10 != 0
        duration = rng.uniform(0.0005, 0.004)
        result = Result(
            probe_id=probe_id,
            started=now + run * 10 + rng.random(),
            duration=duration,
            success=ok,
            reason=None if ok else Reason.STATUS_MISMATCH,
            message="" if ok else "[STATUS] (503) == 200",
            phases=(
                ("resolve", 0.0),
                ("connect", duration / 4),
                ("processing", duration / 2),
                ("transfer", duration / 8),
            ),
            values=(
                (v.HTTP_REDIRECTS, 0),
                (v.HTTP_STATUS_CODE, 200 if ok else 503),
                (v.HTTP_VERSION, 1.1),
                (v.HTTP_CONTENT_LENGTH, 3),
                (v.HTTP_UNCOMPRESSED_BODY_LENGTH, 3),
            ),
            trace_id=f"{index:032x}" if index % 7 == 0 else None,
        )
        probe = app.plan.probes[probe_id]
        app.store.record(result, probe.histogram)
        app.tracker.observe(result, now)
        if exposition is not None:
            exposition.ran(probe, result, app.store.totals.get(probe_id))


def samples(text: str, openmetrics: bool) -> dict[tuple[str, frozenset[tuple[str, str]]], Any]:
    parse = parse_om if openmetrics else parse_text
    return {
        (s.name, frozenset(s.labels.items())): (s.value, s.exemplar)
        for family in parse(text)
        for s in family.samples
    }


def compare(integrations: int, repeat: int = 3, histograms: bool = False) -> dict[str, float]:
    """Seconds per render both ways, bytes, series and exemplars; raises if their samples
    differ. ``histograms``: with every probe's run-duration histogram, and its exemplars.

    prometheus_client's encoder builds everything at every scrape (best of ``repeat``). The
    renderer keeps each entity's lines and writes a probe's as its result arrives, so it is
    timed four ways: ``cold`` (a fresh renderer, as after a start), ``arrivals`` (writing the
    lines of a new result for every probe, spread over an interval in the agent), ``changed``
    (the scrape after them) and ``unchanged`` (a scrape with nothing new).
    """
    with tempfile.TemporaryDirectory() as tmp:
        app = filled_app(integrations, Path(tmp), histograms=histograms)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(SnapshotCollector(app.snapshot))
        out: dict[str, float] = {"series": 0}
        rng = random.Random(11)
        for openmetrics, old_encode in ((False, generate_latest), (True, om.generate_latest)):
            tag = "openmetrics" if openmetrics else "text"
            old_times = []
            for _ in range(repeat):
                started = time.perf_counter()
                old = old_encode(registry)
                old_times.append(time.perf_counter() - started)
            renderer = Exposition()
            times = {}
            for phase in ("cold", "changed", "unchanged"):
                if phase == "changed":
                    started = time.perf_counter()
                    run_all(app, rng, 10, renderer)
                    times["arrivals"] = time.perf_counter() - started
                    old = old_encode(registry)
                started = time.perf_counter()
                new = renderer.render(app.snapshot(), openmetrics)
                times[phase] = time.perf_counter() - started
                if samples(old.decode(), openmetrics) != samples(new.decode(), openmetrics):
                    raise AssertionError(
                        f"{tag}, {phase}: the renderer's samples differ from prometheus_client's"
                    )
            out[f"{tag}_prometheus_client_s"] = min(old_times)
            for phase, seconds in times.items():
                out[f"{tag}_renderer_{phase}_s"] = seconds
            out[f"{tag}_bytes"] = len(new)
            rendered = samples(new.decode(), openmetrics)
            out["series"] = len(rendered)
            if openmetrics:
                out["exemplars"] = sum(exemplar is not None for _, exemplar in rendered.values())
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--integrations", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for key, value in compare(args.integrations, args.repeat).items():
        print(f"{key:36} {value:.4f}" if isinstance(value, float) else f"{key:36} {value}")


if __name__ == "__main__":
    main()
