"""alerts/rules/capacity.yml beyond what test_rules checks for every rule file: the forecast
horizon changes the way the file's header says."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from alerts.build import main
from tests.alerts.tools import binary, run

RULES = Path(__file__).resolve().parents[2] / "alerts" / "rules" / "capacity.yml"


def _rules(text: str) -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(text)["groups"] for r in g["rules"]]


def test_the_horizon_changes_as_documented(tmp_path: Path) -> None:
    """Generate with the header's option: only the forecast's horizon changes."""
    text = RULES.read_text()
    option = re.search(r"^#.* e\.g\. 12 hours: (--forecast-horizon \d+)\.", text, re.MULTILINE)
    assert option is not None, "the header documents how to change the horizon"
    assert main([*shlex.split(option.group(1)), "--out", str(tmp_path)]) == 0
    copy = tmp_path / "capacity.yml"
    before, after = _rules(text), _rules(copy.read_text())
    changed = [(b["alert"], a) for b, a in zip(before, after, strict=True) if a != b]
    assert [name for name, _ in changed] == ["OversightCapacityForecast"]
    forecast = changed[0][1]
    assert "[1h], 12 * 3600)" in forecast["expr"]
    assert forecast["annotations"]["summary"].endswith("fills up within 12h at its current trend")
    result = run(binary("promtool"), "check", "rules", str(copy))
    assert result.returncode == 0, result.stdout + result.stderr
