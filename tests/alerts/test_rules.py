"""The shipped Prometheus rules: valid for promtool, and every alert tested by a promtool suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.alerts.rewrite import fast_alertmanager, shorten_for
from tests.alerts.tools import ALERTMANAGER_CONFIG, RULES, SUITES, binary, run

ANNOTATIONS = {"summary", "description", "runbook_url", "dashboard_url"}
BURN_WINDOWS = {"1h", "6h", "1d", "3d"}


def _alerting_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def _checks() -> list[dict[str, Any]]:
    return [
        check
        for path in SUITES
        for test in yaml.safe_load(path.read_text())["tests"]
        for check in test.get("alert_rule_test", ())
    ]


def test_rules_pass_promtool_check() -> None:
    assert RULES, "no rule files under alerts/rules"
    result = run(binary("promtool"), "check", "rules", *map(str, RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULES), result.stdout


@pytest.mark.parametrize("suite", SUITES, ids=lambda path: path.name)
def test_promtool_suite(suite: Path) -> None:
    result = run(binary("promtool"), "test", "rules", str(suite))
    assert result.returncode == 0, (
        f"promtool test rules {suite.name}:\n{result.stdout}{result.stderr}"
    )


def test_every_alert_is_seen_firing_and_silent() -> None:
    """Each alert has a promtool check where it fires and one where it must not (yet)."""
    checks = _checks()
    for name in {rule["alert"] for rule in _alerting_rules()}:
        mine = [check for check in checks if check["alertname"] == name]
        assert any(check["exp_alerts"] for check in mine), f"{name} is never expected to fire"
        assert any(not check["exp_alerts"] for check in mine), f"{name} is never expected silent"


def test_every_burn_window_is_tested() -> None:
    fired = {
        alert["exp_labels"].get("window")
        for check in _checks()
        if check["alertname"] == "OversightErrorBudgetBurn"
        for alert in check["exp_alerts"]
    }
    assert fired >= BURN_WINDOWS


@pytest.mark.parametrize("rule", _alerting_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_carries_the_escalation_contract(rule: dict[str, Any]) -> None:
    """severity, cause and root_cause on every rule; pattern, integration and owner either set
    by the rule or joined from the integration info; the four annotations."""
    labels = rule["labels"]
    assert {"severity", "cause", "root_cause"} <= set(labels), labels
    if "owner" not in labels:
        assert "group_left (criticality, owner, runbook" in rule["expr"], rule["expr"]
        assert "oversight_integration_info" in rule["expr"], rule["expr"]
    else:  # set by the rule; a per-pattern alert takes its pattern from the aggregation
        assert "integration" in labels
        assert "pattern" in labels or "by (pattern)" in rule["expr"], rule["expr"]
    assert set(rule["annotations"]) == ANNOTATIONS
    assert "for" in rule


def test_shorten_for_changes_only_for(tmp_path: Path) -> None:
    shipped = (RULES[0].parent / "integrations.yml").read_text()
    fast = tmp_path / "integrations.yml"
    fast.write_text(shorten_for(shipped, "3s"))
    before = yaml.safe_load(shipped)["groups"][0]["rules"]
    after = yaml.safe_load(fast.read_text())["groups"][0]["rules"]
    assert [r["for"] for r in after] == ["3s"] * len(before)
    assert [{**r, "for": "3s"} for r in before] == after
    result = run(binary("promtool"), "check", "rules", str(fast))
    assert result.returncode == 0, result.stdout + result.stderr


def test_shorten_for_also_shortens_the_minimum_history(tmp_path: Path) -> None:
    """The burn rates' and the forecast's history is a wait too: a live test's Prometheus is a
    minute old."""
    for name, history in (("slo.yml", "offset 15m"), ("capacity.yml", "offset 30m")):
        shipped = (RULES[0].parent / name).read_text()
        assert history in shipped
        fast = shorten_for(shipped, "3s")
        assert history not in fast and "offset 3s" in fast
        assert fast.count(" offset ") == yaml.safe_dump(
            yaml.safe_load(shipped), sort_keys=False
        ).count(" offset ")


def test_fast_alertmanager_redirects_every_receiver(tmp_path: Path) -> None:
    fast = tmp_path / "alertmanager.yml"
    fast.write_text(fast_alertmanager(ALERTMANAGER_CONFIG.read_text(), "http://127.0.0.1:9/hook"))
    doc = yaml.safe_load(fast.read_text())
    urls = {r["name"]: [c["url"] for c in r["webhook_configs"]] for r in doc["receivers"]}
    assert urls == {name: [f"http://127.0.0.1:9/hook/{name}"] for name in urls}
    assert doc["route"]["group_wait"] == "1s"
    assert "mute_time_intervals" not in fast.read_text().split("mute_time_intervals:\n")[0]
    result = run(binary("amtool"), "check-config", str(fast))
    assert result.returncode == 0, result.stdout + result.stderr
