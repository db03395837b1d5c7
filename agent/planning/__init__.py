"""From a validated config to the immutable plan: probes resolved, rules compiled, checked once."""

from agent.planning.build import build_plan, load_plan

__all__ = ["build_plan", "load_plan"]
