"""From a validated config to the immutable plan: probes resolved, rules compiled, checked once."""

from agent.planning.build import build_plan, load_plan
from agent.planning.shard import choose_shard, share

__all__ = ["build_plan", "choose_shard", "load_plan", "share"]
