"""alerts/rules/slo.yml: multi-window, multi-burn-rate error-budget alerts."""

from __future__ import annotations

from dataclasses import dataclass

from alerts.common import MAYBE_DEPENDENCY, Group, RuleFile, alert, comment, fill
from alerts.params import Params

HEADER = """
    Oversight multi-window, multi-burn-rate SLO alerts (Prometheus >= 2.42), against each
    integration's oversight_integration_slo_objective_ratio{slo="availability"}. Needs
    alerts/rules/recording.yml.

      window (long/short)  burn rate  for   history  level
      1h / 5m              14.4x      2m    15m      page-level: severity by criticality (critical
      6h / 30m             6x         15m   90m        -> page, high -> critical, medium ->
                                                       warning, low -> info)
      1d / 2h              3x         1h    6h       ticket: severity info
      3d / 6h              1x         3h    18h      ticket: severity info

    Both windows must burn: the long one proves the budget really went, the short one that it is
    still going (the alert resolves soon after the errors stop). The long window proves nothing
    while it is mostly empty, so each alert also needs a quarter of its long window of history
    (the agent's runs counter seen that long ago): a fresh Prometheus, or a new integration, does
    not page on the failures of its first minutes. Outages page through the down alerts. Internal integrations alert per
    agent; an external partner alerts when a quorum of its agents (as for the down alert) burns
    on both windows. Value: the long-window burn rate (internal) or the number of agents (external).
    An integration impacted by a down dependency within the short window gets that dependency as
    root_cause and cause="dependency", so Alertmanager mutes it while the dependency alerts.
"""


@dataclass(frozen=True, slots=True)
class Burn:
    long: str
    short: str
    rate: str
    for_: str
    page_level: bool  # severity by criticality; else a ticket (info)
    budget_days: int  # how long a 30-day budget lasts at this rate
    history: str  # how long the integration must have been seen: a quarter of the long window


BURNS = (
    Burn("1h", "5m", "14.4", "2m", True, 2, "15m"),
    Burn("6h", "30m", "6", "15m", True, 5, "90m"),
    Burn("1d", "2h", "3", "1h", False, 10, "6h"),
    Burn("3d", "6h", "1", "3h", False, 30, "18h"),
)

# Severity by criticality, as for the down alert: critical -> page, high -> critical, ...
BY_CRITICALITY = (
    '{{ if eq $labels.criticality "critical" }}page'
    '{{ else if eq $labels.criticality "high" }}critical'
    '{{ else if eq $labels.criticality "medium" }}warning'
    "{{ else }}info{{ end }}"
)

# Both windows over the rate: per agent for internal integrations, on a quorum for external ones.
# The info series with root_cause over the short window says whether it was a dependency's doing.
BURNING = """
    (
        (
            integration:oversight_error_budget:burn_rate${long}{scope="internal"} > ${rate}
          and
            integration:oversight_error_budget:burn_rate${short}{scope="internal"} > ${rate}
          and on (agent, pattern, integration)
            oversight_probe_runs_total offset ${history}
        )
      or
          count by (pattern, integration, scope) (
              integration:oversight_error_budget:burn_rate${long}{scope="external"} > ${rate}
            and
              integration:oversight_error_budget:burn_rate${short}{scope="external"} > ${rate}
            and on (agent, pattern, integration)
              oversight_probe_runs_total offset ${history}
          )
        >= on (pattern, integration, scope)
          pattern_integration:oversight_agents:quorum
    )
    * on (pattern, integration) group_left (criticality, owner, runbook, root_cause)
    pattern_integration:oversight_integration_info:root_cause_${short}
"""

DESCRIPTION = """
    Over both the last ${long} and the last ${short}, {{ $labels.pattern }}/{{ $labels.integration }}
    failed more than ${rate} times as often as its availability objective allows{{ if $labels.agent }}
    (agent {{ $labels.agent }}: {{ printf "%.1f" $value }}x over ${long}){{ else }}
    (agents that see it: {{ $value }}){{ end }}{{ if $labels.root_cause }}; it was impacted
    by {{ $labels.root_cause }}{{ end }}.
    At ${rate}x a 30-day error budget lasts ${days} days.
"""


def build(p: Params) -> RuleFile:
    rules = tuple(
        alert(
            "OversightErrorBudgetBurn",
            fill(BURNING, long=burn.long, short=burn.short, rate=burn.rate, history=burn.history),
            for_=burn.for_,
            labels={
                "severity": BY_CRITICALITY if burn.page_level else "info",
                "window": burn.long,
                **MAYBE_DEPENDENCY,
            },
            summary=fill(
                "{{ $labels.pattern }}/{{ $labels.integration }} burns its error budget ${rate}x too fast (${long} and ${short})",
                rate=burn.rate,
                long=burn.long,
                short=burn.short,
            ),
            description=fill(
                DESCRIPTION,
                long=burn.long,
                short=burn.short,
                rate=burn.rate,
                days=burn.budget_days,
            ),
            runbook_url="{{ $labels.runbook }}",
            dashboard_url=p.integration_dashboard(),
        )
        for burn in BURNS
    )
    return RuleFile("slo.yml", "alerts/slo.py", comment(HEADER), (Group("oversight.slo", rules),))
