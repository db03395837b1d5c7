"""The config: YAML in, frozen models out, with problems that name file, line and key path."""

from __future__ import annotations

from agent.config.errors import ConfigError, Problem
from agent.config.loader import LoadedConfig, load_config, load_config_text
from agent.config.models import Config

__all__ = ["Config", "ConfigError", "LoadedConfig", "Problem", "load_config", "load_config_text"]
