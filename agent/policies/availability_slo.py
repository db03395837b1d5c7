"""availability_slo: the integration meets its availability objective over the window."""

from __future__ import annotations

from pydantic import Field

from agent.durations import format_duration
from agent.policies.base import FAIL, NA, PASS, Block, PolicySpec, WindowTotals
from agent.policies.latency_sla import percent
from agent.results import Compliance

NAME = "availability_slo"


class AvailabilitySlo(Block):
    min_runs: int = Field(default=10, ge=1, description="runs in the window before it is judged")


def _judge(
    block: AvailabilitySlo, totals: WindowTotals, objective: float
) -> tuple[Compliance, str]:
    span = format_duration(totals.span)
    if totals.runs < block.min_runs or totals.availability is None:
        return NA, f"{totals.runs} runs in the last {span}; judged from {block.min_runs}"
    ok = totals.availability >= objective
    return (PASS if ok else FAIL), (
        f"{percent(totals.availability)} of {totals.runs} runs succeeded in the last {span} "
        f"(objective {percent(objective)})"
    )


SPEC = PolicySpec(
    name=NAME,
    title="The integration meets its availability objective",
    remedy="Review the outages in the period with the owner; if the partner is at fault, invoke "
    "the service credits of the contract.",
    block=AvailabilitySlo,
    judge=_judge,
)
