"""alerts/build.py: the shipped rules are what it generates; a site's own parameters reach every
rule that uses them, change nothing else, and the rules still pass promtool and its unit tests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.build import main, render, stale
from alerts.params import AGENT_DASHBOARD, INTEGRATION_DASHBOARD, Params
from tests.alerts.tools import ALERTS, RULES, SUITES, binary, run

ROOT = ALERTS.parent

# A site's parameters, and what each shipped default becomes in the promtool suites with them.
SITE = Params(
    grafana_url="https://grafana.bank.test/",
    runbook_url="https://wiki.bank.test/sre/oversight/runbooks",
    agent_selector='job="oversight-sidecar"',
    agent_owner="team-sre",
    compliance_owner="team-risk",
)
SITE_FLAGS = [
    "--grafana-url",
    "https://grafana.bank.test/",
    "--runbook-url",
    "https://wiki.bank.test/sre/oversight/runbooks",
    "--agent-selector",
    'job="oversight-sidecar"',
    "--agent-owner",
    "team-sre",
    "--compliance-owner",
    "team-risk",
]
IN_SUITES = [
    ('job="oversight"', 'job="oversight-sidecar"'),
    (re.compile(r"job: oversight$", re.MULTILINE), "job: oversight-sidecar"),
    ("(job oversight)", "(job oversight-sidecar)"),
    ('job "oversight"', 'job "oversight-sidecar"'),
    ("https://grafana.example.com", "https://grafana.bank.test"),
    ("https://runbooks.example.com/oversight/", "https://wiki.bank.test/sre/oversight/runbooks/"),
    ("team-observability", "team-sre"),
    ("team-compliance", "team-risk"),
]


def _rules(text: str) -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]


def _name(rule: dict[str, Any]) -> str:
    return rule.get("alert") or rule["record"]


def _as_default(text: str) -> str:
    """Generated text with the site's values put back to the defaults."""
    for site, default in [
        ("https://grafana.bank.test", "https://grafana.example.com"),
        ("https://wiki.bank.test/sre/oversight/runbooks", "https://runbooks.example.com/oversight"),
        ('job="oversight-sidecar"', 'job="oversight"'),
        ('job "oversight-sidecar"', 'job "oversight"'),
        ("team-sre", "team-observability"),
        ("team-risk", "team-compliance"),
    ]:
        text = text.replace(site, default)
    return text


def test_the_shipped_rules_are_the_generated_ones() -> None:
    assert stale() == [], "alerts/rules is stale: python -m alerts.build"
    assert main(["--check"]) == 0
    assert sorted(render()) == [path.name for path in RULES]
    for name, text in render().items():
        assert text.startswith(
            f"# GENERATED from alerts/{name.removesuffix('.yml')}.py by `python -m alerts.build`"
        )


def test_check_names_a_changed_missing_or_extra_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "slo.yml").write_text((tmp_path / "slo.yml").read_text().replace("14.4", "14"))
    (tmp_path / "agent.yml").unlink()
    (tmp_path / "old.yml").write_text("groups: []\n")
    capsys.readouterr()
    assert main(["--check", "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{tmp_path}/{name} is stale: run python -m alerts.build"
        for name in ("agent.yml", "slo.yml", "old.yml")
    ]


def test_a_sites_parameters_reach_every_rule_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "rules"
    assert main([*SITE_FLAGS, "--out", str(out)]) == 0
    texts = {path.name: path.read_text() for path in sorted(out.glob("*.yml"))}
    assert texts == render(SITE)
    every = "".join(texts.values())
    for shipped in ("example.com", 'job="oversight"', "team-observability", "team-compliance"):
        assert shipped not in every, shipped
    # where they land
    alerts = {
        (_name(r), r["labels"]["severity"]): r
        for t in texts.values()
        for r in _rules(t)
        if "alert" in r
    }
    up = 'up{job="oversight-sidecar"}'
    assert alerts["OversightAgentDown", "critical"]["expr"] == f"{up} == 0"
    assert alerts["OversightAgentAbsent", "critical"]["expr"] == f"absent({up})"
    assert alerts["OversightAgentAbsent", "critical"]["annotations"]["runbook_url"] == (
        "https://wiki.bank.test/sre/oversight/runbooks/agent-absent"
    )
    assert alerts["OversightAuditWriteFailing", "critical"]["labels"]["owner"] == "team-sre"
    assert alerts["OversightComplianceScoreLow", "info"]["labels"]["owner"] == "team-risk"
    for rule in alerts.values():
        dashboard = rule["annotations"]["dashboard_url"]
        assert dashboard.startswith(
            (
                "https://grafana.bank.test" + AGENT_DASHBOARD,
                "https://grafana.bank.test" + INTEGRATION_DASHBOARD + "?var-pattern=",
            )
        )
        runbook = rule["annotations"]["runbook_url"]
        assert runbook == "{{ $labels.runbook }}" or runbook.startswith(
            "https://wiki.bank.test/sre/oversight/runbooks/"
        ), runbook
    # and nothing else changed: put the defaults back and it is the shipped rules
    for name, text in texts.items():
        assert _rules(_as_default(text)) == _rules((RULES[0].parent / name).read_text()), name
    assert every.startswith(
        "# GENERATED from alerts/agent.py by `python -m alerts.build "
        "--grafana-url https://grafana.bank.test --runbook-url "
    )


def test_a_sites_rules_pass_promtool_and_its_unit_tests(tmp_path: Path) -> None:
    """The shipped promtool suites, with the site's values where they expect the defaults."""
    assert main([*SITE_FLAGS, "--out", str(tmp_path / "rules")]) == 0
    result = run(binary("promtool"), "check", "rules", *map(str, sorted(tmp_path.glob("rules/*"))))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULES)
    (tmp_path / "tests").mkdir()
    for suite in SUITES:
        text = suite.read_text()
        for shipped, site in IN_SUITES:
            text = (
                shipped.sub(site, text)
                if isinstance(shipped, re.Pattern)
                else (text.replace(shipped, site))
            )
        (tmp_path / "tests" / suite.name).write_text(text)
    for suite in sorted((tmp_path / "tests").glob("*_test.yml")):
        result = run(binary("promtool"), "test", "rules", str(suite))
        assert result.returncode == 0, f"{suite.name}:\n{result.stdout}{result.stderr}"


def test_quorum_horizon_and_any_selector(tmp_path: Path) -> None:
    """Each changes only the rules that use it, and they pass promtool."""
    params = Params(
        quorum=3, forecast_horizon=12, agent_selector='namespace="payments",job=~"oversight.*"'
    )
    texts = render(params)
    changed = {
        (name, _name(new)): new
        for name, text in texts.items()
        for old, new in zip(_rules(render()[name]), _rules(text), strict=True)
        if old != new
    }
    assert sorted(changed) == [
        ("agent.yml", "OversightAgentAbsent"),
        ("agent.yml", "OversightAgentDown"),
        ("capacity.yml", "OversightCapacityForecast"),
        ("recording.yml", "pattern_integration:oversight_agents:quorum"),
    ]
    quorum = changed["recording.yml", "pattern_integration:oversight_agents:quorum"]
    assert quorum["expr"].rstrip().endswith("),\n  3\n)"), quorum["expr"]
    forecast = changed["capacity.yml", "OversightCapacityForecast"]
    assert "[1h], 12 * 3600)" in forecast["expr"]
    assert "fills up within 12h" in forecast["annotations"]["summary"]
    assert "within 12 hours" in forecast["annotations"]["description"]
    absent = changed["agent.yml", "OversightAgentAbsent"]
    assert absent["expr"] == 'absent(up{namespace="payments",job=~"oversight.*"})'
    assert absent["annotations"]["description"].startswith(
        'Prometheus has no target in {namespace="payments",job=~"oversight.*"} for 5 minutes'
    )
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    result = run(binary("promtool"), "check", "rules", *map(str, sorted(tmp_path.glob("*.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--grafana-url", "grafana.bank.test"], "grafana_url: 'grafana.bank.test' is not an"),
        (["--agent-selector", '{job="x"}'], "agent_selector: '{job=\"x\"}': give label matchers"),
        (["--quorum", "0"], "quorum and forecast_horizon are whole numbers from 1"),
        (["--agent-owner", "team sre"], "agent_owner: 'team sre' is not a team name"),
    ],
)
def test_a_bad_parameter_is_one_line(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*flags, "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_dashboard_links_are_the_dashboards_uids() -> None:
    for path, link in [
        ("agent.json", AGENT_DASHBOARD),
        ("integration.json", INTEGRATION_DASHBOARD),
    ]:
        uid = json.loads((ROOT / "dashboards" / path).read_text())["uid"]
        assert link.startswith(f"/d/{uid}/"), (path, uid)


def test_the_readme_documents_every_file_alert_and_parameter() -> None:
    readme = (ALERTS / "README.md").read_text()
    for path in RULES:
        assert f"`rules/{path.name}`" in readme, path.name
    names = {_name(r) for p in RULES for r in _rules(p.read_text()) if "alert" in r}
    for name in names:
        assert f"`{name}`" in readme, name
    for option in Params.__dataclass_fields__:
        assert f"--{option.replace('_', '-')}" in readme, option
