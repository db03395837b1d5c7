"""latency_sla: a share of successful runs answer within the agreed time, over the window."""

from __future__ import annotations

from pydantic import Field

from agent.durations import format_duration
from agent.fields import Percent, PositiveDuration
from agent.policies.base import FAIL, NA, PASS, Block, PolicySpec, WindowTotals
from agent.results import Compliance

NAME = "latency_sla"


class LatencySla(Block):
    max: PositiveDuration = Field(default=1.0, description="the agreed response time")
    percentile: Percent = Field(
        default=0.95, gt=0, lt=1, description="share of successful runs within max"
    )
    min_runs: int = Field(default=10, ge=1, description="successful runs before it is judged")


def percent(share: float) -> str:
    """0.999 -> ``99.9%``; 0.98765 -> ``98.77%``."""
    text = f"{share * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _judge(block: LatencySla, totals: WindowTotals, objective: float) -> tuple[Compliance, str]:
    span = format_duration(totals.span)
    if totals.successes < block.min_runs or totals.fast_share is None:
        return NA, (
            f"{totals.successes} successful runs in the last {span}; judged from {block.min_runs}"
        )
    ok = totals.fast_share >= block.percentile
    return (PASS if ok else FAIL), (
        f"{percent(totals.fast_share)} of {totals.successes} successful runs took at most "
        f"{format_duration(block.max)} in the last {span} "
        f"(objective {percent(block.percentile)})"
    )


SPEC = PolicySpec(
    name=NAME,
    title="Answers arrive within the agreed time",
    remedy="Raise it with the owner of the integration (or the partner, under the SLA); look "
    "for what slowed it down in the dashboards.",
    block=LatencySla,
    judge=_judge,
    window_limit=lambda block: block.max,
)
