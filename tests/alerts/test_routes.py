"""The shipped Alertmanager routing: valid for amtool, and which receiver each alert reaches."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import load_config
from agent.demo.topology import PATTERNS
from agent.planning import build_plan
from tests.alerts.tools import ALERTMANAGER_CONFIG, binary, run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "oversight.yaml"


def _example_owners() -> set[str]:
    """The owners examples/oversight.yaml gives its patterns and integrations, as the agent
    exports them (an integration without one has its pattern's)."""
    plan = build_plan(load_config(EXAMPLE, env={"PROCESSOR_API_KEY": "unused"}))
    return {i.owner for i in plan.integrations.values()} | set(plan.pattern_owners.values())


def _demo_owners() -> set[str]:
    return {p.owner for p in PATTERNS} | {i.owner for p in PATTERNS for i in p.integrations}


# Every owner a new user meets, in the example config and the demo: each has two channels.
OWNERS = tuple(sorted(_example_owners() | _demo_owners()))

# (labels, receivers in order): the escalation ladder per owner, then the special cases.
ROUTES: list[tuple[dict[str, str], list[str]]] = [
    *(({"severity": "page", "owner": o}, ["pager", f"{o}-urgent"]) for o in OWNERS),
    *(({"severity": "critical", "owner": o}, [f"{o}-urgent"]) for o in OWNERS),
    *(({"severity": "warning", "owner": o}, [o]) for o in OWNERS),
    *(({"severity": "info", "owner": o}, ["tickets"]) for o in OWNERS),
    # the maintenance child of the page route still pages (outside its window)
    (
        {
            "severity": "page",
            "owner": "team-core-banking",
            "pattern": "account",
            "integration": "core_ledger",
        },
        ["pager", "team-core-banking-urgent"],
    ),
    # root cause elsewhere: a ticket, whatever the severity
    ({"severity": "page", "owner": "team-accounts", "cause": "dependency"}, ["tickets"]),
    ({"severity": "critical", "owner": "team-payments", "cause": "dependency"}, ["tickets"]),
    (
        {"severity": "page", "owner": "team-accounts", "cause": "self"},
        ["pager", "team-accounts-urgent"],
    ),
    # unknown owners and the agent's own alerts: the observability team
    ({"severity": "critical", "owner": "team-nobody-knows"}, ["team-observability-urgent"]),
    ({"severity": "warning", "owner": "team-nobody-knows"}, ["team-observability"]),
    ({"severity": "page", "owner": "team-nobody-knows"}, ["pager", "team-observability-urgent"]),
    (
        {"severity": "critical", "owner": "team-observability", "alertname": "OversightAgentDown"},
        ["team-observability-urgent"],
    ),
    (
        {
            "severity": "warning",
            "owner": "team-observability",
            "alertname": "OversightConfigReloadFailed",
        },
        ["team-observability"],
    ),
    # the compliance score alert's owner: only ever a ticket
    (
        {
            "severity": "info",
            "owner": "team-compliance",
            "alertname": "OversightComplianceScoreLow",
        },
        ["tickets"],
    ),
    # no severity at all
    ({"alertname": "Unlabelled"}, ["team-observability"]),
]


def test_the_owners_are_those_of_the_example_and_the_demo() -> None:
    assert _example_owners() == {
        "team-payments",
        "team-payments-partners",
        "team-accounts",
        "team-client-platform",
    }
    assert _example_owners() <= _demo_owners()
    assert len(OWNERS) == 6


def test_alertmanager_config_passes_amtool_check() -> None:
    result = run(binary("amtool"), "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "5 inhibit rules" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    ROUTES,
    ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else "",
)
def test_route(labels: dict[str, str], receivers: list[str]) -> None:
    result = run(
        binary("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={','.join(receivers)}",
        *(f"{key}={value}" for key, value in labels.items()),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [",".join(receivers)]
