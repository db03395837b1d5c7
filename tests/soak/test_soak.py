"""The CI soak: ``python -m bench soak`` for three minutes on 300 targets (the hostile mix, the
collector away for the middle minute, a reload every 20 s). It must pass the soak's own
criteria (RSS, descriptors and tasks flat after the warm-up, no child process) and write its
CSV, plot and report. The 30-minute soak is the bench's (bench/SOAK.md)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import peers

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.soak
def test_three_minute_soak(tmp_path: Path) -> None:
    missing = peers.missing_packages([peers.NGINX])
    assert not missing, f"install {', '.join(missing)} (bash scripts/test does)"
    out = tmp_path / "SOAK.md"
    argv = [sys.executable, "-m", "bench", "soak", "--minutes", "3", "--targets", "300"]
    argv += ["--reload-every", "20", "--warmup", "60", "--out", str(out)]
    done = subprocess.run(
        argv,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    raw = json.loads(out.with_suffix(".json").read_text())
    assert done.returncode == 0, (done.stderr[-3000:], raw["verdict"])
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert len(rows) >= 17  # every 10 s for three minutes
    assert {r["otlp"] for r in rows} == {"up", "down"}
    assert sum("broken" in r["reload"] for r in rows) >= 3
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert "Passed" in out.read_text()
    figures = raw["figures"]
    assert figures["healthz_failures"] == 0
    assert figures["missed"] == 0
