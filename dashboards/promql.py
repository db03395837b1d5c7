"""PromQL shared by the dashboards: states as numbers, objectives, error budget, thresholds."""

from __future__ import annotations

DAY = 86400  # seconds

Codes = tuple[tuple[str, int, str], ...]  # (label value, code, colour)

# State of an integration as one number, worst highest, so max() over several agents shows the
# worst view. The agent exports one series an integration, its current state's.
STATE_CODES: Codes = (("unknown", 0, "#8e8e8e"), ("ok", 1, "green"), ("degraded", 2, "yellow"),
                      ("impacted", 3, "purple"), ("down", 4, "red"))  # fmt: skip
STATE_COLORS = {name: color for name, _, color in STATE_CODES}
# A compliance policy on one integration: failing (its oversight_compliance_failing series) or
# not (no series: it passes or does not apply).
COMPLIANCE_CODES: Codes = (("none failing", 0, "green"), ("fail", 1, "red"))

# The configured levels of each threshold signal: one family each, in its own unit.
THRESHOLDS = {
    "latency": "oversight_probe_latency_threshold_seconds",
    "cert_expiry": "oversight_probe_cert_expiry_threshold_seconds",
    "credential_expiry": "oversight_probe_credential_expiry_threshold_seconds",
    "utilisation": "oversight_probe_utilisation_threshold_ratio",
}


# A sharded prober's agents each state part of an integration; alerts/rules/shards.yml states it
# once per location (the two agents of a shard deduplicated, the shards combined) in a series of
# the same shape without an agent label. The dashboards read that instead of those agents' own.
SHARDED = 'oversight_build_info{shard!=""}'
SHARDS_STATE = "location_integration:oversight_integration_state:shards"


def state_series(selector: str) -> str:
    """PromQL: the integration state series ``selector`` picks, one per agent that is not
    sharded and one per sharded prober (alerts/rules/shards.yml)."""
    return (
        f"(oversight_integration_state{{{selector}}} unless on (agent, location) {SHARDED})"
        f" or {SHARDS_STATE}{{{selector}}}"
    )


def coded_union(metric: str, label: str, codes: Codes, selector: str) -> str:
    """PromQL: an enum gauge whose one series (value 1) names the current value in ``label``,
    scaled to that value's code."""
    terms = [f'{code} * {metric}{{{selector}, {label}="{name}"}}' for name, code, _ in codes]
    return "\n  or ".join(terms)


def coded(metric: str, label: str, codes: Codes, selector: str, by: str) -> str:
    """PromQL: the code of the enum's current value, the highest where series meet in ``by``."""
    return f"max by ({by}) (\n    {coded_union(metric, label, codes, selector)}\n)"


def state_code(selector: str, by: str = "pattern, scope, integration") -> str:
    """PromQL: the state of each integration as its code (see STATE_CODES), the worst of the
    agents that are not sharded and the sharded probers (``state_series``)."""
    terms = []
    for name, code, _ in STATE_CODES:
        picked = f'{selector}, state="{name}"'
        terms.append(f"{code} * ({state_series(picked)})")
    return f"max by ({by}) (\n    " + "\n  or ".join(terms) + "\n)"


def objective(selector: str) -> str:
    """PromQL selector of the availability objectives (0.999 for 99.9%)."""
    return f'oversight_integration_slo_objective_ratio{{{selector}, slo="availability"}}'


def counted(counter: str, selector: str, by: str, window: str) -> str:
    """PromQL: how much ``counter`` grew over ``window``, summed ``by``; a series that first
    shows within the window (none of its samples in the window before) counts in full
    (increase() starts from its first sample), as in the recording rules
    integration:oversight_probe_*:increase<window>."""
    series = f"{counter}{{{selector}}}"
    before = f"present_over_time({series}[{window}] offset {window})"
    return (
        f"sum by ({by}) (\n"
        f"      (last_over_time({series}[{window}]) unless {before})\n"
        f"    or increase({series}[{window}])\n"
        f"  )"
    )


def budget_left(selector: str, by: str = "pattern, integration", window: str = "30d") -> str:
    """PromQL: share of the availability error budget left over ``window`` (negative: overspent).

    The budget is 1 - objective (oversight_integration_slo_objective_ratio); what is spent is
    the share of failed probe runs of all the integration's probes together (failures / runs;
    an integration that never failed has no failures series and has spent nothing). Plain
    increase() over whatever the retention holds: the first failure for a reason, which it
    misses, is nothing next to 30 days of runs.
    """
    runs = f"sum by ({by}) (increase(oversight_probe_runs_total{{{selector}}}[{window}]))"
    failures = f"sum by ({by}) (increase(oversight_probe_failures_total{{{selector}}}[{window}]))"
    return (
        f"1 - (\n"
        f"    ({failures} or 0 * {runs})\n"
        f"    / {runs}\n"
        f"  / on ({by})\n"
        f"    (1 - max by ({by}) ({objective(selector)}))\n"
        f")"
    )


def threshold(selector: str, signal: str, by: str = "probe, severity") -> str:
    """PromQL: the warning and critical levels configured for ``signal`` (its family's unit)."""
    return f"max by ({by}) ({THRESHOLDS[signal]}{{{selector}}})"
