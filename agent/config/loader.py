"""Read the YAML config into the frozen models, keeping every key's line for error messages.

PyYAML's node API (compose) is used instead of ``safe_load`` so that each key and list item
keeps its line, and so that a duplicate key is an error rather than silently winning.
``${VAR}`` and ``${VAR:-default}`` in string values expand from the environment at load time;
``${flow.name}`` is left as it is, for a flow to fill in with a value it captured.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent.config.dependencies import dependency_graph, dependency_problems
from agent.config.errors import (
    ConfigError,
    KeyPath,
    Problem,
    format_path,
    sort_problems,
    validation_problems,
)
from agent.config.models import AgentSettings, Config

# libyaml's parser where PyYAML was built with it: ten times faster on a large config, with the
# same nodes and marks. A document it refuses is read again with the pure-Python parser, whose
# messages say more (and name the character a file must not hold).
_FAST = getattr(yaml, "CSafeLoader", None)
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VARIABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)


@dataclass(frozen=True)
class SourceMap:
    """Where each key path was written: path -> 1-based line of its key (or list item)."""

    lines: Mapping[KeyPath, int] = field(default_factory=dict)

    def line_for(self, path: KeyPath) -> int | None:
        """The line of ``path``, else of its nearest ancestor that was written in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


@dataclass(frozen=True)
class LoadedConfig:
    """A valid config and what is needed to report on it: source lines, digest, secrets."""

    config: Config
    path: str
    source: SourceMap
    digest: str  # sha256 of the file's bytes: the audit log records it on (re)load
    secrets: frozenset[str]  # values taken from the environment, for the redactor

    def problem(self, path: KeyPath, message: str) -> Problem:
        """A Problem at the line where ``path`` was written, for checks made after loading."""
        return Problem(self.path, self.source.line_for(path), format_path(path), message)


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load and validate a config file; raise ConfigError listing every problem found."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            [Problem(name, None, "", f"cannot read the config file: {reason}")]
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError([Problem(name, line, "", "the file is not UTF-8 text")]) from None
    return _load(text, name, hashlib.sha256(raw).hexdigest(), env)


def load_config_text(
    text: str, name: str = "<string>", env: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Load a config from text (tests, the demo); ``name`` stands in for the file name."""
    return _load(text, name, hashlib.sha256(text.encode()).hexdigest(), env)


def _agent_defaults(data: dict[str, Any]) -> AgentSettings:
    """The agent's defaults, for the probes that inherit them (the whole agent block is
    validated, and its problems reported, with the rest of the file)."""
    try:
        return AgentSettings.model_validate(data.get("agent") or {})
    except ValidationError:
        return AgentSettings()


def _load(text: str, name: str, digest: str, env: Mapping[str, str] | None) -> LoadedConfig:
    reader = _Reader(name, os.environ if env is None else env)
    data = reader.read(text)
    problems = list(reader.problems)
    config: Config | None = None
    if isinstance(data, dict):
        for path, message in dependency_problems(dependency_graph(data)):
            problems.append(Problem(name, reader.source.line_for(path), format_path(path), message))
        try:
            config = Config.model_validate(data, context={"agent": _agent_defaults(data)})
        except ValidationError as exc:
            found = validation_problems(
                exc,
                file=name,
                model=Config,
                data=data,
                line_for=reader.source.line_for,
                hide=reader.expanded,
            )
            # A value already reported (a missing variable) is not reported twice.
            problems += [p for p in found if (p.line, p.path) not in reader.reported]
    if problems or config is None:  # no config without a problem: the reader reported it
        raise ConfigError(sort_problems(problems))
    return LoadedConfig(config, name, reader.source, digest, frozenset(reader.secrets))


def read_document(text: str, name: str, top_keys: str) -> tuple[Any, SourceMap, list[Problem]]:
    """Any YAML document as plain data, with each key's line and its problems (syntax,
    duplicate keys, a top level that is not a mapping of ``top_keys``); no ``${VAR}``
    expansion. For files in formats of their own, such as the web config."""
    reader = _Reader(name, {}, expand=False, top_keys=top_keys)
    data = reader.read(text)
    return data, reader.source, reader.problems


class _Reader:
    """One pass over one document: data, source lines, expansions and the problems met."""

    def __init__(
        self,
        name: str,
        env: Mapping[str, str],
        *,
        expand: bool = True,
        top_keys: str = "agent, exporters, patterns",
    ) -> None:
        self.name = name
        self.env = env
        self.expand = expand
        self.top_keys = top_keys
        self.lines: dict[KeyPath, int] = {}
        self.source = SourceMap(self.lines)
        self.problems: list[Problem] = []
        self.reported: set[tuple[int | None, str]] = set()
        self.expanded: dict[KeyPath, frozenset[str]] = {}
        self.secrets: set[str] = set()

    def read(self, text: str) -> Any:
        """The document as plain dicts, lists and scalars; None when it cannot be read."""
        if _FAST is not None:
            fast = _FAST(text)
            try:
                root = fast.get_single_node()
            except yaml.YAMLError:
                pass  # the pure-Python parser below says what is wrong
            else:
                return self._document(fast, root)
            finally:
                fast.dispose()
        try:
            loader = yaml.SafeLoader(text)  # checks every character first: may raise
        except yaml.YAMLError as exc:
            position = getattr(exc, "position", None)
            line = text[:position].count("\n") + 1 if isinstance(position, int) else None
            self._problem((), line, f"invalid YAML: {str(exc).splitlines()[0]}")
            return None
        try:
            return self._document(loader, loader.get_single_node())
        except yaml.MarkedYAMLError as exc:
            self._problem((), *_yaml_error(exc))
        finally:
            loader.dispose()
        return None

    def _document(self, loader: Any, root: yaml.Node | None) -> Any:
        if root is None:
            self._problem((), None, "the file is empty; it needs at least a 'patterns' section")
            return None
        if not isinstance(root, yaml.MappingNode):
            self._problem(
                (),
                root.start_mark.line + 1,
                f"the top level must be a mapping of keys ({self.top_keys})",
            )
            return None
        self.lines[()] = root.start_mark.line + 1
        return self._node(loader, root, ())

    def _node(self, loader: Any, node: yaml.Node, path: KeyPath) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(loader, node, path)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self._node(loader, item, (*path, index)))
            return items
        try:
            value = loader.construct_object(node, deep=True)
        except ValueError as exc:  # e.g. a date like 2024-13-45: YAML reads it as a timestamp
            self._problem(path, node.start_mark.line + 1, f"cannot read {node.value!r}: {exc}")
            return None
        if self.expand and node.tag == _STR_TAG and isinstance(value, str) and "$" in value:
            return self._expand(value, path, node.start_mark.line + 1)
        return value

    def _mapping(self, loader: Any, node: yaml.MappingNode, path: KeyPath) -> Any:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                merged.update(self._merge(loader, value_node, path))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(path, line, "a key must be a plain name, not a list or mapping")
                continue
            key = str(key_node.value)
            if key in first_line:
                self._problem(
                    path, line, f"duplicate key {key!r} (first at line {first_line[key]})"
                )
                continue
            first_line[key] = line
            result[key] = self._node(loader, value_node, (*path, key))
        for key, line in first_line.items():  # a key written here wins over a merged one
            self.lines[(*path, key)] = line
        return {**merged, **result}

    def _merge(self, loader: Any, node: yaml.Node, path: KeyPath) -> dict[str, Any]:
        """``<<: *anchor`` (or a list of anchors): keys written beside it win."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):
            if not isinstance(source, yaml.MappingNode):
                self._problem(path, source.start_mark.line + 1, "'<<' must merge a mapping")
                continue
            merged.update(self._mapping(loader, source, path))
        return merged

    def _expand(self, value: str, path: KeyPath, line: int) -> str:
        """``${VAR}``, ``${VAR:-default}`` (default when unset or empty), ``$${`` -> ``${``."""
        taken: set[str] = set()

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            if (match.group(1) or "").startswith("flow."):
                return match.group(0)  # a value a flow captured, filled in at each run
            variable = _VARIABLE.match(match.group(1) or "")
            if variable is None:
                self._problem(
                    path,
                    line,
                    f"malformed reference {match.group(0)!r}; write "
                    "${NAME} or ${NAME:-default}, or $${ for a literal ${",
                )
                return ""
            name, default = variable.groups()
            found = self.env.get(name)
            if found is None and default is None:
                self._problem(path, line, f"environment variable {name} is not set")
                return ""
            if default is not None and not found:
                return default
            if found:
                taken.add(found)
            return found or ""

        expanded = _REFERENCE.sub(replace, value)
        if taken:
            self.secrets |= taken
            self.expanded[path] = frozenset(taken)
        return expanded

    def _problem(self, path: KeyPath, line: int | None, message: str) -> None:
        problem = Problem(self.name, line, format_path(path), message)
        self.problems.append(problem)
        self.reported.add((line, problem.path))


def _yaml_error(exc: yaml.MarkedYAMLError) -> tuple[int | None, str]:
    """(line, message) for a YAML syntax error, naming where the broken construct began."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    message = f"invalid YAML: {exc.problem or exc.context}"
    if exc.problem and exc.context:
        started = exc.context_mark.line + 1 if exc.context_mark is not None else None
        message += f" ({exc.context}" + (f" started at line {started})" if started else ")")
    return line, message
