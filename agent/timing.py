"""When a probe runs and how long a run may take: the one rule, with defaults applied.

A timeout must be shorter than its interval: a run may last its whole timeout and the next is
due at the interval, so an equal one would make every other run against a hanging target skip
(the interval silently doubles). A timeout the agent picks (a probe that inherits the agent's
default, a derived compliance check) is at most ``DEFAULT_TIMEOUT_SHARE`` of the interval.
"""

from __future__ import annotations

from agent.durations import format_duration

DEFAULT_TIMEOUT_SHARE = 0.9


def timeout_problem(timeout: float, interval: float) -> str | None:
    """Why ``timeout`` cannot go with ``interval``, or None when it can."""
    if timeout < interval:
        return None
    return (
        f"timeout {format_duration(timeout)} must be shorter than the interval "
        f"{format_duration(interval)}: a run may last its whole timeout, and the next one is "
        "due at the interval"
    )


def default_timeout(agent_timeout: float, interval: float) -> float:
    return min(agent_timeout, interval * DEFAULT_TIMEOUT_SHARE)


def resolve(
    interval: float | None, timeout: float | None, agent_interval: float, agent_timeout: float
) -> tuple[float, float]:
    """A probe's interval and timeout with the agent's defaults applied."""
    every = interval or agent_interval
    return every, timeout if timeout is not None else default_timeout(agent_timeout, every)
