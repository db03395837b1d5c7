"""The PrometheusRule carries exactly alerts/rules, is what the generator writes, and promtool
accepts its rules as Prometheus would load them."""

from __future__ import annotations

from pathlib import Path

import yaml

from deploy.build_prometheusrule import OUTPUT, RULES, main, render, rule_groups
from tests.alerts.tools import binary, run
from tests.deploy.manifests import RULES_BASE, one


def test_committed_file_is_the_generated_one() -> None:
    assert OUTPUT.read_text(encoding="utf-8") == render(), (
        "the PrometheusRule is stale: python -m deploy.build_prometheusrule"
    )
    assert main(["--check"]) == 0


def test_output_follows_alerts_rules(tmp_path: Path) -> None:
    """A rule removed from alerts/rules changes the output, so the drift test would fail."""
    for path in sorted(RULES.glob("*.yml")):
        (tmp_path / path.name).write_text(path.read_text())
    first = next(iter(sorted(tmp_path.glob("*.yml"))))
    document = yaml.safe_load(first.read_text())
    document["groups"][0]["rules"].pop()
    first.write_text(yaml.safe_dump(document))
    assert render(tmp_path) != render()


def test_it_carries_exactly_the_groups_of_alerts_rules() -> None:
    rule = one("PrometheusRule", RULES_BASE)
    assert rule["spec"]["groups"] == rule_groups()
    names = [
        g["name"]
        for path in sorted(RULES.glob("*.yml"))
        for g in yaml.safe_load(path.read_text())["groups"]
    ]
    assert [g["name"] for g in rule["spec"]["groups"]] == names
    assert len(set(names)) == len(names), "group names must be unique in one PrometheusRule"
    for group in rule["spec"]["groups"]:
        for item in group["rules"]:
            for block in ("labels", "annotations"):  # the CRD wants strings
                for key, value in item.get(block, {}).items():
                    assert isinstance(value, str), (item.get("alert"), key, value)


def test_extracted_rules_pass_promtool(tmp_path: Path) -> None:
    path = tmp_path / "prometheusrule-groups.yml"
    path.write_text(yaml.safe_dump({"groups": one("PrometheusRule", RULES_BASE)["spec"]["groups"]}))
    result = run(binary("promtool"), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    rules = sum(len(g["rules"]) for g in rule_groups())
    assert f"SUCCESS: {rules} rules found" in result.stdout, result.stdout
