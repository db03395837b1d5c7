"""What a user changes in the rules: the parameters of ``python -m alerts.build``.

Like the ``_config`` of the Kubernetes mixins: every value a site would otherwise edit in the
generated YAML (its Grafana, its runbooks, how its Prometheus names the agents' scrape job, the
teams that own the agent's own alerts) is a field here, with the shipped value as its default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

# The dashboards' addresses: their uids never change (dashboards/README.md).
AGENT_DASHBOARD = "/d/oversight-agent/agent"
INTEGRATION_DASHBOARD = "/d/oversight-integration/integration"

_JOB = re.compile(r'job="([^"\\]*)"')


def _option(default: Any, metavar: str, help: str) -> Any:
    """A field with its command-line option's help."""
    return field(default=default, metadata={"metavar": metavar, "help": help})


@dataclass(frozen=True, slots=True)
class Params:
    """The rules' parameters; each field is an option of ``alerts.build`` (``--grafana-url``)."""

    grafana_url: str = _option(
        "https://grafana.example.com",
        "URL",
        "base URL of the Grafana holding the dashboards (the dashboard_url annotations)",
    )
    runbook_url: str = _option(
        "https://runbooks.example.com/oversight",
        "URL",
        "base URL of the runbooks of the alerts not about one integration (the agent's own, "
        "the compliance score), a page each: URL/agent-down, ...; an integration's runbook is "
        "its `runbook` in the agent config",
    )
    agent_selector: str = _option(
        'job="oversight"',
        "MATCHERS",
        "label matchers, without braces, of the agents' scrape targets in `up`",
    )
    agent_owner: str = _option(
        "team-observability", "TEAM", "owner of the alerts about the agents themselves"
    )
    compliance_owner: str = _option(
        "team-compliance", "TEAM", "owner of the compliance score alert (one per pattern)"
    )
    quorum: int = _option(
        2,
        "N",
        "agents that must agree before an external partner alerts (all, when fewer watch it)",
    )
    forecast_horizon: int = _option(
        4, "HOURS", "hours ahead OversightCapacityForecast looks for a resource to fill up"
    )

    def __post_init__(self) -> None:
        for name in ("grafana_url", "runbook_url"):
            url = getattr(self, name)
            if not re.fullmatch(r"https?://\S+", url):
                raise ValueError(f"{name}: {url!r} is not an http:// or https:// URL")
            object.__setattr__(self, name, url.rstrip("/"))
        if not self.agent_selector or self.agent_selector.lstrip().startswith("{"):
            raise ValueError(
                f"agent_selector: {self.agent_selector!r}: give label matchers without braces, "
                'e.g. job="oversight"'
            )
        for name in ("agent_owner", "compliance_owner"):
            if not re.fullmatch(r"[\w.-]+", getattr(self, name)):
                raise ValueError(f"{name}: {getattr(self, name)!r} is not a team name")
        if self.quorum < 1 or self.forecast_horizon < 1:
            raise ValueError("quorum and forecast_horizon are whole numbers from 1")

    def changed(self) -> dict[str, object]:
        """The fields that differ from the defaults, by name."""
        default = Params()
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }

    # Derived values the rule modules use.

    @property
    def agent_up(self) -> str:
        """The agents' ``up`` series."""
        return "up{" + self.agent_selector + "}"

    @property
    def agent_targets(self) -> str:
        """The agents' targets in words: ``job "oversight"``, or the matchers."""
        job = _JOB.fullmatch(self.agent_selector)
        return f'job "{job.group(1)}"' if job else "{" + self.agent_selector + "}"

    def runbook(self, page: str) -> str:
        """The runbook page of one of the agent's own alerts."""
        return f"{self.runbook_url}/{page}"

    @property
    def agent_dashboard(self) -> str:
        return self.grafana_url + AGENT_DASHBOARD

    def integration_dashboard(self, *, integration: bool = True) -> str:
        """The integration detail for the alert's pattern (and integration)."""
        url = self.grafana_url + INTEGRATION_DASHBOARD + "?var-pattern={{ $labels.pattern }}"
        return url + ("&var-integration={{ $labels.integration }}" if integration else "")
