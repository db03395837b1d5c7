"""PromQL shared by the dashboards: states as numbers, objectives, error budget, thresholds."""

from __future__ import annotations

DAY = 86400  # seconds

Codes = tuple[tuple[str, int, str], ...]  # (label value, code, colour)

# State of an integration as one number, worst highest, so max() over several agents shows the
# worst view; 0 is also what an integration without any state=1 series gets (unknown).
STATE_CODES: Codes = (("unknown", 0, "#8e8e8e"), ("ok", 1, "green"), ("degraded", 2, "yellow"),
                      ("impacted", 3, "purple"), ("down", 4, "red"))  # fmt: skip
STATE_COLORS = {name: color for name, _, color in STATE_CODES}
# A compliance check's status the same way: fail worst, not_applicable 0.
COMPLIANCE_CODES: Codes = (("not_applicable", 0, "#8e8e8e"), ("pass", 1, "green"),
                           ("fail", 2, "red"))  # fmt: skip


def coded_union(metric: str, label: str, codes: Codes, selector: str) -> str:
    """PromQL: an enum gauge (1 for the current ``label`` value, 0 for the others) with each
    series scaled to its value's code, so the current value's series carries the code."""
    terms = [
        f'{code} * {metric}{{{selector}, {label}="{name}"}}' for name, code, _ in codes if code
    ]
    return "\n  or ".join(terms)


def coded(metric: str, label: str, codes: Codes, selector: str, by: str) -> str:
    """PromQL: the code of the enum's current value, the highest where series meet in ``by``."""
    return f"max by ({by}) (\n    {coded_union(metric, label, codes, selector)}\n)"


def state_code(selector: str, by: str = "pattern, scope, integration") -> str:
    """PromQL: the state of each integration as its code (see STATE_CODES)."""
    return coded("oversight_integration_state", "state", STATE_CODES, selector, by)


def compliance_code(selector: str, by: str) -> str:
    """PromQL: the status of each compliance check as its code (see COMPLIANCE_CODES)."""
    return coded("oversight_compliance_status", "status", COMPLIANCE_CODES, selector, by)


def objective(selector: str) -> str:
    """PromQL selector of the availability objectives (0.999 for 99.9%)."""
    return f'oversight_integration_slo_objective_ratio{{{selector}, slo="availability"}}'


def budget_left(selector: str, by: str = "pattern, integration", window: str = "30d") -> str:
    """PromQL: share of the availability error budget left over ``window`` (negative: overspent).

    The budget is 1 - objective (oversight_integration_slo_objective_ratio); what is spent is
    the share of failed probe runs of all the integration's probes together.
    """
    runs = "oversight_probe_runs_total"
    return (
        f"1 - (\n"
        f'    (1 - sum by ({by}) (increase({runs}{{{selector}, result="success"}}[{window}]))\n'
        f"       / sum by ({by}) (increase({runs}{{{selector}}}[{window}])))\n"
        f"  / on ({by})\n"
        f"    (1 - max by ({by}) ({objective(selector)}))\n"
        f")"
    )


def threshold(selector: str, signal: str, by: str = "probe, severity") -> str:
    """PromQL: the warning and critical levels configured for ``signal`` (base units)."""
    return f'max by ({by}) (oversight_probe_threshold{{{selector}, signal="{signal}"}})'
