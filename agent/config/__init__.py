"""The config: YAML in, frozen models out, with problems that name file, line and key path."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.config.errors import ConfigError, Problem
    from agent.config.loader import LoadedConfig, load_config, load_config_text
    from agent.config.models import Config

__all__ = ["Config", "ConfigError", "LoadedConfig", "Problem", "load_config", "load_config_text"]

# Resolved on first use: models.py imports the prober registry, and a prober may import
# agent.config.durations, which runs this file first; eager imports here would be a cycle.
_HOMES = {
    "Config": "agent.config.models",
    "ConfigError": "agent.config.errors",
    "Problem": "agent.config.errors",
    "LoadedConfig": "agent.config.loader",
    "load_config": "agent.config.loader",
    "load_config_text": "agent.config.loader",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home), name)
