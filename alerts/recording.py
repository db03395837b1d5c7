"""alerts/rules/recording.yml: availability, burn rate and latency per integration, and the
per-integration lookups the alerts join."""

from __future__ import annotations

from alerts.common import SHARDED_AGENTS, Group, Rule, RuleFile, comment, fill, record
from alerts.params import Params

HEADER = """
    Oversight recording rules (Prometheus >= 2.42): availability, error-budget burn rate and latency
    of every integration over 5m, 30m, 1h, 2h, 6h, 1d and 3d, and the per-integration lookups the
    alerts join (owner, criticality, runbook, root cause, quorum).

    "Per integration" keeps every label but `probe` (and `reason`): one series per agent,
    pattern and integration, so each sidecar's view stays its own; the alerts decide how several
    agents combine (alerts/README.md). Names follow level:metric:operations.
"""

# Every window a rule is recorded over: the burn-rate alerts' long and short windows.
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# How far before a window a counter is looked for, to tell one that first shows within it: the
# window itself, at most an hour (so the rules need an hour of data more than their window).
BEFORE = {"5m": "5m", "30m": "30m"}
# The short windows of the burn-rate alerts, over which an impacted integration's errors are
# put down to its dependency.
ROOT_CAUSE_WINDOWS = ("5m", "30m", "2h", "6h")

# Runs or failed runs (${counter}) of an integration within the window.
COUNT = """
    sum without (probe${extra}) (
        (last_over_time(${counter}[${window}]) unless present_over_time(${counter}[${before}] offset ${window}))
      or
        increase(${counter}[${window}])
    )
"""

AVAILABILITY = """
    1 - (
        integration:oversight_probe_failures:increase${window}
      or
        0 * integration:oversight_probe_runs:increase${window}
    )
    / integration:oversight_probe_runs:increase${window}
"""

BURN_RATE = """
    (1 - integration:oversight_availability:ratio_rate${window})
      / on (agent, pattern, integration) group_left ()
    (1 - oversight_integration_slo_objective_ratio{slo="availability"})
"""

QUANTILE = "max without (probe) (quantile_over_time(${quantile}, probe_duration_seconds[${window}]))"

SLOWEST = "max without (probe) (max_over_time(probe_duration_seconds[${window}]))"

INFO = """
    topk by (pattern, integration) (1,
      max by (pattern, integration, scope, criticality, owner, runbook) (oversight_integration_info)
    )
"""

QUORUM = """
    clamp_max(
      count by (pattern, integration, scope) (
          (oversight_integration_info{scope="external"} unless on (agent, location) ${sharded})
        or
          location_integration:oversight_integration_state:shards{scope="external"}
      ),
      ${quorum}
    )
"""

INFO_WITH_ROOT_CAUSE = """
    (
        pattern_integration:oversight_integration_info:topk1
      * on (pattern, integration) group_left (root_cause)
        (
            topk by (pattern, integration) (1,
              sum by (pattern, integration, root_cause) (
                count_over_time(oversight_integration_state{state="impacted"}[${window}])
              )
            )
          > bool 0
        )
    )
    or on (pattern, integration)
    pattern_integration:oversight_integration_info:topk1
"""


def _availability() -> tuple[Rule, ...]:
    counts = [
        record(
            f"integration:oversight_probe_{counter}:increase{window}",
            fill(
                COUNT,
                counter=f"oversight_probe_{counter}_total",
                extra=extra,
                window=window,
                before=BEFORE.get(window, "1h"),
            ),
            comment="" if (number, counter) != (0, "runs") else """
                Runs and failed runs of the integration's probes within the window, all probes
                together. A counter that first shows within the window (no sample in the window's
                length, at most an hour, before it) counts in full: a probe's first run, and the
                first failure for a reason (the agent exports oversight_probe_failures_total{reason}
                from that failure on), which rate() and increase() would drop as they start from a
                series' first sample. A failed scrape (a staleness marker) does not make a counter
                new; an agent that could not be scraped for longer than that look-back while its
                counters went on counts them from its start for a while, a window later.
            """,
        )
        for number, window in enumerate(WINDOWS)
        for counter, extra in (("runs", ""), ("failures", ", reason"))
    ]
    ratios = [
        record(
            f"integration:oversight_availability:ratio_rate{window}",
            fill(AVAILABILITY, window=window),
            comment="" if number else """
                Share of the integration's probe runs (all its probes together) that succeeded:
                1 - failures / runs. An integration that never failed has no failures series and
                counts 0.
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
    return (*counts, *ratios, *burn_rates)


def _latency() -> tuple[Rule, ...]:
    quantiles = [
        record(
            f"integration:probe_duration_seconds:p{quantile[2:]}_{window}",
            fill(QUANTILE, quantile=quantile, window=window),
            comment="" if (number, quantile) != (0, "0.95") else """
                95th and 99th percentile of the last-run durations (probe_duration_seconds) the
                scrapes saw within the window, of the integration's slowest probe. They work
                without the run-duration histogram, which is opt-in (agent.histograms); they
                replace integration:oversight_probe_duration_seconds:p95_rate<window>, which pooled
                every run of every probe from it. A gauge is seen once a scrape: a run between two
                scrapes is missed, one that outlasts several is counted as often.
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
            fill(QUORUM, quorum=p.quorum, sharded=SHARDED_AGENTS),
            comment=fill(
                """
                How many agents must see an external integration down (or burning its budget)
                before it alerts: ${quorum} (--quorum), or all of them when fewer watch it. A
                sharded prober counts once (shards.yml), its pair being a quorum of its own.
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
                    alerts. When the window saw several, the one it was impacted by for longest
                    (the most samples over every agent): while a fault spreads, the agent may blame
                    an intermediate dependency for a run (it failed before its own dependency's
                    probe did), and the alert must name the same root cause at every evaluation.
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
