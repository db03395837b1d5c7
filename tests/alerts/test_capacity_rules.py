"""alerts/rules/capacity.yml beyond what test_rules checks for every rule file: the forecast
horizon changes the way the file's header says."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.alerts.tools import binary, run

RULES = Path(__file__).resolve().parents[2] / "alerts" / "rules" / "capacity.yml"


def _rules(text: str) -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(text)["groups"] for r in g["rules"]]


def test_the_horizon_changes_as_documented(tmp_path: Path) -> None:
    """Run the header's sed line on a copy: only the forecast's horizon changes."""
    text = RULES.read_text()
    command = re.search(r"^#\s+(sed -i .+ alerts/rules/capacity\.yml)$", text, re.MULTILINE)
    assert command is not None, "the header documents how to change the horizon"
    copy = tmp_path / "alerts" / "rules" / "capacity.yml"
    copy.parent.mkdir(parents=True)
    copy.write_text(text)
    sed = subprocess.run(
        ["sh", "-c", command.group(1)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert sed.returncode == 0, sed.stderr
    before, after = _rules(text), _rules(copy.read_text())
    changed = [(b["alert"], a["expr"]) for b, a in zip(before, after, strict=True) if a != b]
    assert [name for name, _ in changed] == ["OversightCapacityForecast"]
    assert "[1h], 12 * 3600)" in changed[0][1]
    result = run(binary("promtool"), "check", "rules", str(copy))
    assert result.returncode == 0, result.stdout + result.stderr
