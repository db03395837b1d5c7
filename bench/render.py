"""/metrics render time in-process, prometheus_client's encoder against exposition.Renderer.

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
from exporters.prometheus.exposition import Renderer


def filled_app(integrations: int, workdir: Path, runs: int = 3) -> App:
    """An App (not started) whose store holds ``runs`` results of every probe."""
    path = workdir / "render.yaml"
    urls = [f"http://127.0.0.1:9/t/{i}" for i in range(integrations)]
    path.write_text(agent_yaml("127.0.0.1:0", urls, 10.0, 5.0))
    app = App(path)
    rng = random.Random(7)
    now = time.time()
    for run in range(runs):
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
            app.store.record(result)
            app.tracker.observe(result, now)
    return app


def samples(text: str, openmetrics: bool) -> dict[tuple[str, frozenset[tuple[str, str]]], Any]:
    parse = parse_om if openmetrics else parse_text
    return {
        (s.name, frozenset(s.labels.items())): (s.value, s.exemplar)
        for family in parse(text)
        for s in family.samples
    }


def compare(integrations: int, repeat: int = 3) -> dict[str, float]:
    """Seconds per render (best of ``repeat``) both ways, and bytes; raises if they differ."""
    with tempfile.TemporaryDirectory() as tmp:
        app = filled_app(integrations, Path(tmp))
        collector = SnapshotCollector(app.snapshot)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        out: dict[str, float] = {"series": 0}
        for openmetrics, old_encode in ((False, generate_latest), (True, om.generate_latest)):
            renderer = Renderer(collector.steps, openmetrics=openmetrics)
            tag = "openmetrics" if openmetrics else "text"
            old_times, new_times = [], []
            for _ in range(repeat):
                started = time.perf_counter()
                old = old_encode(registry)
                old_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                new = renderer.render(app.snapshot())
                new_times.append(time.perf_counter() - started)
            old_samples = samples(old.decode(), openmetrics)
            if old_samples != samples(new.decode(), openmetrics):
                raise AssertionError(
                    f"{tag}: the renderer's samples differ from prometheus_client's"
                )
            out[f"{tag}_prometheus_client_s"] = min(old_times)
            out[f"{tag}_renderer_s"] = min(new_times)
            out[f"{tag}_bytes"] = len(new)
            out["series"] = len(old_samples)
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
