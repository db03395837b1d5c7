"""The bench harness runs end to end on a tiny N, and its measuring parts compute the truth.

No figure is asserted as a speed: only that every number the report needs was measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import peers, readme
from bench.accesslog import Hit, lost_runs, missed_runs, percentile, read_hits, schedule_errors
from bench.render import compare

ROOT = Path(__file__).resolve().parents[2]


def test_schedule_error_is_distance_from_each_targets_own_grid() -> None:
    # Target 0 is on its grid (phase 0.3 s) but for one run 40 ms late; target 1 keeps a
    # constant 0.9 s phase, which is no error at all.
    hits = [Hit(100.3 + k, 0, 200) for k in range(10)]
    hits[4] = Hit(104.34, 0, 200)
    hits += [Hit(100.9 + k, 1, 200) for k in range(10)]
    errors = schedule_errors(hits, 1.0, 100.0, 110.0)
    assert len(errors) == 20
    assert max(errors) == pytest.approx(0.04, abs=1e-6)
    assert sorted(errors)[-2] == pytest.approx(0.0, abs=1e-6)
    assert percentile(errors, 50) == pytest.approx(0.0, abs=1e-6)
    assert missed_runs(hits[:15], 2, 1.0, 100.0, 110.0) == 5
    assert lost_runs(hits, 1.0, 100.0, 110.0) == 0
    gap = [h for h in hits if not (h.target == 1 and 103 < h.at < 106)]  # 3 runs of 1 lost
    assert lost_runs(gap, 1.0, 100.0, 110.0) == 3


def test_access_log_lines_are_read_once_and_half_lines_wait(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("1700000000.123 /t/7 200\n1700000000.500 /healthz 200\n1700000001.0 /t/8 ")
    hits, offset = read_hits(log)
    assert hits == [Hit(1700000000.123, 7, 200)]
    with log.open("a") as handle:
        handle.write("503\n")
    more, _ = read_hits(log, offset)
    assert more == [Hit(1700000001.0, 8, 503)]


# The agent's own series and the three patterns' (scheduler and event-loop lag histograms,
# compliance checks, build, readiness, reloads, ...), whatever the number of integrations.
AGENT_SERIES = 45


@pytest.mark.parametrize(
    ("histograms", "per_integration", "exemplars"),
    [
        # an HTTP integration of one probe: 15 series of the probe (info, 2 latency thresholds,
        # runs, success, duration, 4 phases, 5 HTTP values) and 5 of the integration's own
        (False, 15 + 5, 0),
        # and 14 of the run-duration histogram (12 buckets, sum, count) when asked for, with
        # the trace of its last run as exemplar where it has one
        (True, 15 + 5 + 14, 1),
    ],
    ids=["default", "histograms"],
)
def test_the_renderer_holds_the_same_samples_as_prometheus_client(
    histograms: bool, per_integration: int, exemplars: int
) -> None:
    """/metrics is rendered without prometheus_client's encoders: same samples, both formats
    (including the exemplars OpenMetrics carries); compare() raises if they differ."""
    integrations = 4
    figures = compare(integrations, repeat=1, histograms=histograms)
    failure_counters = 1  # probe 0 fails (one run in ten): its oversight_probe_failures_total
    expected = per_integration * integrations + failure_counters + AGENT_SERIES
    assert figures["series"] == expected
    assert figures["exemplars"] == exemplars  # probe 0 is the one of the four with a trace
    assert figures["text_bytes"] > 0 and figures["openmetrics_bytes"] > 0


def test_the_harness_runs_on_a_tiny_n(tmp_path: Path) -> None:
    missing = peers.missing_packages([peers.NGINX, peers.BLACKBOX, peers.PROMETHEUS])
    assert not missing, f"install {', '.join(missing)} (bash scripts/test does)"
    out = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny", "--no-install", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    for heading in ("## Machine and versions", "## Method", "## Goals", "## CPU per probe"):
        assert heading in text
    raw = json.loads(out.with_suffix(".json").read_text())
    runs = {run["plan"]["kind"]: run for run in raw["rates"]}
    assert set(runs) == {"agent_stack", "blackbox_direct"}
    for kind, process in (("agent_stack", "agent"), ("blackbox_direct", "blackbox")):
        run = runs[kind]
        assert run["probes_per_s"][0] > 0, f"nginx saw no probe from {kind}"
        assert run["cpu_ms_per_probe"][process][0] > 0
        assert run["peak_rss_mib"][process] > 0
        assert run["non_200"] == 0
    assert runs["agent_stack"]["peak_rss_mib"]["prometheus"] > 0
    assert runs["agent_stack"]["schedule_error_ms"]["p99"] >= 0
    # what the agent says of itself: its series budget and its loop's lag over the windows
    agent = runs["agent_stack"]["extra"]
    assert 10 <= agent["series_per_probe"] <= 22 and 3 <= agent["series_per_integration"] <= 12
    assert agent["loop_lag"]["observations"] >= 1
    assert "| series per HTTP probe, per integration of its own |" in text
    assert len(raw["pids"]) >= 5  # nginx twice, the agent, Prometheus, blackbox, load generator
    assert [pid for pid in raw["pids"] if Path(f"/proc/{pid}").exists()] == []  # all stopped


def test_the_scaling_run_measures_each_shard(tmp_path: Path) -> None:
    """``--scaling`` on a tiny N: one agent, then two shards, every figure measured, the
    shards' probes adding up to the config's, every process stopped."""
    assert not peers.missing_packages([peers.NGINX]), "install nginx (bash scripts/test does)"
    out = tmp_path / "SCALING.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--scaling", "--tiny", "--no-install", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert "## Results" in out.read_text() and "## Figures for sizing" in out.read_text()
    raw = json.loads(out.with_suffix(".json").read_text())
    single, sharded = raw["outcome"]["single"], raw["outcome"]["sharded"]
    assert [s["name"] for s in sharded] == ["0/2", "1/2"]
    assert sum(s["probes"] for s in sharded) == single[0]["probes"] == 60
    for agent in [*single, *sharded]:
        assert agent["probes_per_s"][0] > 0 and agent["cpu_cores"][0] > 0
        assert agent["peak_rss_mib"] > 0 and agent["ready_s"] > 0
        assert agent["schedule_error_ms"]["p99"] >= 0
    assert raw["figures"]["shards_cores_total"] > 0
    assert [pid for pid in raw["meta"]["pids"] if Path(f"/proc/{pid}").exists()] == []


def test_a_run_rewrites_only_its_own_readme_block(tmp_path: Path) -> None:
    begin, end = readme.markers("scaling", "python -m bench --scaling")
    path = tmp_path / "README.md"
    path.write_text(f"# Title\n\n{begin}\nold figures\n{end}\n\nkept\n")
    assert readme.replace_block(path, "scaling", "python -m bench --scaling", ["| a | 1 |"])
    assert path.read_text() == f"# Title\n\n{begin}\n| a | 1 |\n{end}\n\nkept\n"
    other = tmp_path / "OTHER.md"
    other.write_text("no markers here\n")
    assert not readme.replace_block(other, "scaling", "python -m bench --scaling", ["x"])
    assert other.read_text() == "no markers here\n"
