"""alerts/rules/capacity.yml: utilisation over its levels, a forecast, our credentials expiring."""

from __future__ import annotations

from alerts.common import SELF, Group, RuleFile, alert, comment, fill, joined
from alerts.params import Params

HEADER = """
    Oversight capacity alerts (Prometheus >= 2.42): a resource over its probe's utilisation
    thresholds, a resource whose trend reaches its limit within the forecast horizon, and our own
    credentials (client certificates, tokens) nearing expiry. Standalone: no recording rules
    needed.

    Series: oversight_capacity_utilisation_ratio{resource} (used / limit, 0..1) and
    oversight_credential_expiry_timestamp_seconds, with the probe's labels; the levels come from
    each probe's `thresholds:` (oversight_probe_utilisation_threshold_ratio and
    oversight_probe_credential_expiry_threshold_seconds).
    Owner, criticality and runbook are joined from oversight_integration_info of the same agent:
    capacity is what each sidecar sees beside it, so every alert is per agent.

    Forecast: OversightCapacityForecast fires when predict_linear over the last hour (`[1h]`)
    reaches the limit (1) within the horizon, ${hours} hours (`${hours} * 3600`), once the
    resource has 30 minutes of history (`offset 30m`): a fresh Prometheus, or a resource just
    seen, has too few samples for a trend. To warn earlier,
    generate the rules with a longer horizon, e.g. 12 hours: --forecast-horizon 12. A longer
    window (`[6h]`, in alerts/capacity.py) steadies the trend for slow leaks.
    cpu is left out (a rate, not something that fills up), as are credentials (their expiry is
    exact: OversightCredentialExpiring speaks for them) and partners' rate-limit quotas (they
    refill every window, so their trend says nothing about the next hours).
"""

# The owner, criticality and runbook of the integration, from the same agent.
JOIN = """
    * on (agent, pattern, integration) group_left (criticality, owner, runbook)
    oversight_integration_info
"""

UTILISATION_OVER = """
    (
        oversight_capacity_utilisation_ratio
      > on (agent, pattern, integration, probe) group_left ()
        oversight_probe_utilisation_threshold_ratio{severity="${severity}"}
    )
"""

# A trend needs history: half its window (30m) must be there, or a fresh Prometheus (or a
# resource first seen) extrapolates its first minutes' noise over hours.
FORECAST = """
    (
        predict_linear(oversight_capacity_utilisation_ratio{resource!~"cpu|cpu:.*|credential:.*|quota:.*"}[1h], ${hours} * 3600)
      >= 1
    and
        oversight_capacity_utilisation_ratio offset 30m
    )
"""

# Seconds left under the probe's credential_expiry level, or under a default level when the
# probe sets none.
CREDENTIAL_LEFT = """
    (
        oversight_credential_expiry_timestamp_seconds - time()
      < on (agent, pattern, integration, probe) group_left ()
        (
            oversight_probe_credential_expiry_threshold_seconds{severity="${severity}"}
          or on (agent, pattern, integration, probe)
            0 * oversight_probe_info{kind="credential"} + ${days} * 86400
        )
    )
"""


def build(p: Params) -> RuleFile:
    dashboard = p.integration_dashboard()
    warning = {"severity": "warning", **SELF}
    critical = {**warning, "severity": "critical"}
    hours = p.forecast_horizon
    used = "{{ $labels.pattern }}/{{ $labels.integration }}: {{ $labels.resource }} is {{ $value | humanizePercentage }} used"
    credential = "The credential {{ $labels.probe }} of {{ $labels.pattern }}/{{ $labels.integration }} expires in {{ $value | humanizeDuration }}"
    over_level = """
        {{ $labels.resource }} of {{ $labels.pattern }}/{{ $labels.integration }} (probe
        {{ $labels.probe }}, agent {{ $labels.agent }}) is {{ $value | humanizePercentage }}
        used, over its ${level} level for ${minutes} minutes.
    """
    rules = (
        alert(
            "OversightCapacityHigh",
            joined(UTILISATION_OVER, JOIN, severity="warning"),
            for_="10m",
            labels=warning,
            summary=used,
            description=fill(over_level, level="warning", minutes=10),
            runbook_url="{{ $labels.runbook }}",
            dashboard_url=dashboard,
            comment="Utilisation over the probe's warning / critical level. Value: the utilisation.",
        ),
        alert(
            "OversightCapacityHigh",
            joined(UTILISATION_OVER, JOIN, severity="critical"),
            for_="5m",
            labels=critical,
            summary=used,
            description=fill(over_level, level="critical", minutes=5),
            runbook_url="{{ $labels.runbook }}",
            dashboard_url=dashboard,
        ),
        alert(
            "OversightCapacityForecast",
            joined(FORECAST, JOIN, hours=hours),
            for_="15m",
            labels=warning,
            summary=fill(
                "{{ $labels.pattern }}/{{ $labels.integration }}: {{ $labels.resource }} fills up within ${hours}h at its current trend",
                hours=hours,
            ),
            description=fill(
                """
                At the trend of the last hour, {{ $labels.resource }} of {{ $labels.pattern }}/{{ $labels.integration }}
                (probe {{ $labels.probe }}, agent {{ $labels.agent }}) reaches its limit within ${hours} ${unit}
                (predicted {{ $value | humanizePercentage }} used by then).
                """,
                hours=hours,
                unit="hour" if hours == 1 else "hours",
            ),
            runbook_url="{{ $labels.runbook }}",
            dashboard_url=dashboard,
            comment=fill(
                """
                At the trend of the last hour, the resource is full within the horizon (${hours}h).
                Value: the utilisation predicted at the horizon. Works with or without configured
                thresholds.
                """,
                hours=hours,
            ),
        ),
        alert(
            "OversightCredentialExpiring",
            joined(CREDENTIAL_LEFT, JOIN, severity="warning", days=30),
            for_="10m",
            labels=warning,
            summary=credential,
            description="""
                The credential read by probe {{ $labels.probe }} of {{ $labels.pattern }}/{{ $labels.integration }}
                (agent {{ $labels.agent }}) expires in {{ $value | humanizeDuration }}, under its warning
                level. Renew it before calls to the partner start failing.
            """,
            runbook_url="{{ $labels.runbook }}",
            dashboard_url=dashboard,
            comment="""
                Our own credential expires within the probe's credential_expiry level, or within 30
                days (warning) / 7 days (critical) when the probe sets none. Value: seconds left.
            """,
        ),
        alert(
            "OversightCredentialExpiring",
            joined(CREDENTIAL_LEFT, JOIN, severity="critical", days=7),
            for_="10m",
            labels=critical,
            summary=credential,
            description="""
                The credential read by probe {{ $labels.probe }} of {{ $labels.pattern }}/{{ $labels.integration }}
                (agent {{ $labels.agent }}) expires in {{ $value | humanizeDuration }}, under its critical
                level (negative once it has expired). Renew it now.
            """,
            runbook_url="{{ $labels.runbook }}",
            dashboard_url=dashboard,
        ),
    )
    return RuleFile(
        "capacity.yml",
        "alerts/capacity.py",
        comment(HEADER, hours=hours),
        (Group("oversight.capacity", rules),),
    )
