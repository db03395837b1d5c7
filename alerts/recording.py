"""alerts/rules/recording.yml: availability, burn rate and latency per integration, and the
per-integration lookups the alerts join."""

from __future__ import annotations

from alerts.common import Group, Rule, RuleFile, comment, fill, record
from alerts.params import Params

HEADER = """
    Oversight recording rules (Prometheus >= 2.42): availability, error-budget burn rate and latency
    of every integration over 5m, 30m, 1h, 2h, 6h, 1d and 3d, and the per-integration lookups the
    alerts join (owner, criticality, runbook, root cause, quorum).

    "Per integration" keeps every label but `probe` (and `result`, `le`): one series per agent,
    pattern and integration, so each sidecar's view stays its own; the alerts decide how several
    agents combine (alerts/README.md). Names follow level:metric:operations.
"""

# Every window a rule is recorded over: the burn-rate alerts' long and short windows.
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# The short windows of the burn-rate alerts, over which an impacted integration's errors are
# put down to its dependency.
ROOT_CAUSE_WINDOWS = ("5m", "30m", "2h", "6h")

AVAILABILITY = """
    sum without (probe, result) (rate(oversight_probe_runs_total{result="success"}[${window}]))
      /
    sum without (probe, result) (rate(oversight_probe_runs_total[${window}]))
"""

BURN_RATE = """
    (1 - integration:oversight_availability:ratio_rate${window})
      / on (agent, pattern, integration) group_left ()
    (1 - oversight_integration_slo_objective_ratio{slo="availability"})
"""

QUANTILE = "histogram_quantile(${quantile}, sum without (probe) (rate(oversight_probe_duration_seconds_bucket[${window}])))"

SLOWEST = "max without (probe) (max_over_time(probe_duration_seconds[${window}]))"

INFO = """
    topk by (pattern, integration) (1,
      max by (pattern, integration, scope, criticality, owner, runbook) (oversight_integration_info)
    )
"""

QUORUM = "clamp_max(count by (pattern, integration, scope) (oversight_integration_info{scope=\"external\"}), ${quorum})"

INFO_WITH_ROOT_CAUSE = """
    (
        pattern_integration:oversight_integration_info:topk1
      * on (pattern, integration) group_left (root_cause)
        topk by (pattern, integration) (1,
          max by (pattern, integration, root_cause) (max_over_time(oversight_integration_root_cause[${window}]))
        )
    )
    or on (pattern, integration)
    pattern_integration:oversight_integration_info:topk1
"""


def _availability() -> tuple[Rule, ...]:
    ratios = [
        record(
            f"integration:oversight_availability:ratio_rate{window}",
            fill(AVAILABILITY, window=window),
            comment="" if number else """
                Share of the integration's probe runs (all its probes together) that succeeded.
            """,
        )
        for number, window in enumerate(WINDOWS)
    ]
    burn_rates = [
        record(
            f"integration:oversight_error_budget:burn_rate{window}",
            fill(BURN_RATE, window=window),
            comment="" if number else """
                How fast the error budget burns: error ratio / (1 - objective). 1 spends exactly the
                budget over the SLO period; 14.4 spends a 30-day budget in about two days.
            """,
        )
        for number, window in enumerate(WINDOWS)
    ]
    return (*ratios, *burn_rates)


def _latency() -> tuple[Rule, ...]:
    quantiles = [
        record(
            f"integration:oversight_probe_duration_seconds:p{quantile[2:]}_rate{window}",
            fill(QUANTILE, quantile=quantile, window=window),
            comment="" if (number, quantile) != (0, "0.95") else """
                95th and 99th percentiles of run durations from the oversight_probe_duration_seconds
                histogram, all probes of the integration together.
            """,
        )
        for number, window in enumerate(WINDOWS)
        for quantile in ("0.95", "0.99")
    ]
    slowest = [
        record(
            f"integration:probe_duration_seconds:max{window}",
            fill(SLOWEST, window=window),
            comment="" if number else """
                The slowest last run of any of its probes within the window (probe_duration_seconds
                is blackbox_exporter's gauge of the last run).
            """,
        )
        for number, window in enumerate(WINDOWS)
    ]
    return (*quantiles, *slowest)


def _lookups(p: Params) -> tuple[Rule, ...]:
    return (
        record(
            "pattern_integration:oversight_integration_info:topk1",
            INFO,
            comment="""
                One info series per integration, however many agents watch it: scope, criticality,
                owner and runbook. max by + topk keep every join on it one-to-one even while two
                agents disagree (a config rolling out) rather than failing the whole rule.
            """,
        ),
        record(
            "pattern_integration:oversight_agents:quorum",
            fill(QUORUM, quorum=p.quorum),
            comment=fill(
                """
                How many agents must see an external integration down (or burning its budget)
                before it alerts: ${quorum} (--quorum), or all of them when fewer watch it.
                """,
                quorum=p.quorum,
            ),
        ),
        *(
            record(
                f"pattern_integration:oversight_integration_info:root_cause_{window}",
                fill(INFO_WITH_ROOT_CAUSE, window=window),
                comment="" if number else """
                    The info series, plus `root_cause` (pattern/integration of the down dependency)
                    when the integration was impacted at any time within the window: errors within
                    that window are the dependency's doing. One per short window of the burn-rate
                    alerts.
                """,
            )
            for number, window in enumerate(ROOT_CAUSE_WINDOWS)
        ),
    )


def build(p: Params) -> RuleFile:
    return RuleFile(
        "recording.yml",
        "alerts/recording.py",
        comment(HEADER),
        (
            Group("oversight.availability", _availability()),
            Group("oversight.latency", _latency()),
            Group("oversight.lookups", _lookups(p)),
        ),
    )
