"""The shipped Alertmanager routing: valid for amtool, and which receiver each alert reaches."""

from __future__ import annotations

import pytest

from tests.alerts.tools import ALERTMANAGER_CONFIG, binary, run

# The owners of the demo's integrations (agent/demo/topology.py), each with two channels.
OWNERS = (
    "team-payments",
    "team-payments-partners",
    "team-core-banking",
    "team-accounts",
    "team-client-platform",
    "team-client-partners",
)

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
    # no severity at all
    ({"alertname": "Unlabelled"}, ["team-observability"]),
]


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
