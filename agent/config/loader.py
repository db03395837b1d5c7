"""Read the YAML config into the frozen models, knowing every key's line for error messages.

PyYAML's event API is used instead of ``safe_load`` so that each key and list item keeps its
line, and so that a duplicate key is an error rather than silently winning.
``${VAR}`` and ``${VAR:-default}`` in string values expand from the environment at load time;
``${flow.name}`` is left as it is, for a flow to fill in with a value it captured.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


class SourceMap:
    """Where each key path was written: path -> 1-based line of its key (or list item).

    Given ``read`` instead of ``lines``, the map is made when first asked for: a config that
    loads without a problem never needs it, and at 10,000 integrations it is as big as the
    config itself."""

    __slots__ = ("_lines", "_read")

    def __init__(
        self,
        lines: Mapping[KeyPath, int] | None = None,
        read: Callable[[], Mapping[KeyPath, int]] | None = None,
    ) -> None:
        self._lines, self._read = lines, read

    @property
    def lines(self) -> Mapping[KeyPath, int]:
        if self._lines is None:
            self._lines = self._read() if self._read is not None else {}
            self._read = None
        return self._lines

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
    reader = _Reader(name, os.environ if env is None else env, lines=False)
    data = reader.read(text)
    source = SourceMap(read=lambda: lines_of(text, name))
    problems = list(reader.problems)
    config: Config | None = None
    if isinstance(data, dict):
        for path, message in dependency_problems(dependency_graph(data)):
            problems.append(Problem(name, source.line_for(path), format_path(path), message))
        try:
            config = Config.model_validate(data, context={"agent": _agent_defaults(data)})
        except ValidationError as exc:
            found = validation_problems(
                exc,
                file=name,
                model=Config,
                data=data,
                line_for=source.line_for,
                hide=reader.expanded,
            )
            # A value already reported (a missing variable) is not reported twice.
            problems += [p for p in found if (p.line, p.path) not in reader.reported]
    if problems or config is None:  # no config without a problem: the reader reported it
        raise ConfigError(sort_problems(problems))
    return LoadedConfig(config, name, source, digest, frozenset(reader.secrets))


def read_document(text: str, name: str, top_keys: str) -> tuple[Any, SourceMap, list[Problem]]:
    """Any YAML document as plain data, with each key's line and its problems (syntax,
    duplicate keys, a top level that is not a mapping of ``top_keys``); no ``${VAR}``
    expansion. For files in formats of their own, such as the web config."""
    reader = _Reader(name, {}, expand=False, top_keys=top_keys)
    data = reader.read(text)
    return data, SourceMap(reader.lines), reader.problems


def lines_of(text: str, name: str) -> Mapping[KeyPath, int]:
    """Where each key path of a YAML document was written (what ``SourceMap`` reads)."""
    reader = _Reader(name, {}, expand=False)
    reader.read(text)
    return reader.lines


class _Reader:
    """One pass over one document's parser events: data, expansions, the problems met and,
    when ``lines`` is asked for, each key's line.

    Building the data from events, rather than from a composed node tree, keeps one event in
    memory at a time: at 10,000 integrations the tree took more memory than the config it
    described. Problems know their line from the event at hand, so the key -> line map is
    only made for a document that needs it (``SourceMap``)."""

    def __init__(
        self,
        name: str,
        env: Mapping[str, str],
        *,
        expand: bool = True,
        top_keys: str = "agent, exporters, patterns",
        lines: bool = True,
    ) -> None:
        self.name = name
        self.env = env
        self.expand = expand
        self.top_keys = top_keys
        self.track = lines
        self._reset()

    def _reset(self) -> None:
        self.lines: dict[KeyPath, int] = {}
        self.problems: list[Problem] = []
        self.reported: set[tuple[int | None, str]] = set()
        self.expanded: dict[KeyPath, frozenset[str]] = {}
        self.secrets: set[str] = set()
        self._anchors: dict[str, Any] = {}
        self._anchored_at: dict[str, KeyPath] = {}
        self._tags: dict[tuple[str, Any], str] = {}  # (plain scalar, implicit) -> its tag

    def read(self, text: str) -> Any:
        """The document as plain dicts, lists and scalars; None when it cannot be read."""
        if _FAST is not None:
            fast = _FAST(text)
            try:
                return self._document(fast)
            except yaml.YAMLError:
                self._reset()  # the pure-Python parser below says what is wrong
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
            return self._document(loader)
        except yaml.MarkedYAMLError as exc:
            self._problem((), *_yaml_error(exc))
        finally:
            loader.dispose()
        return None

    def _document(self, loader: Any) -> Any:
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            self._problem((), None, "the file is empty; it needs at least a 'patterns' section")
            return None
        loader.get_event()  # document start
        root = loader.peek_event()
        line = _line(root)
        if isinstance(root, yaml.MappingStartEvent):
            if self.track:
                self.lines[()] = line
            data = self._value(loader, ())
        else:
            self._skip(loader)
            self._problem((), line, f"the top level must be a mapping of keys ({self.top_keys})")
            data = None
        loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            extra = _line(loader.peek_event())
            self._problem((), extra, "the file holds more than one YAML document (---)")
            return None
        return data

    def _value(self, loader: Any, path: KeyPath) -> Any:
        """Consume one node's events and return its value."""
        event: Any = loader.get_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self._anchors:
                self._problem(path, _line(event), f"unknown alias *{event.anchor}")
                return None
            if self.track:
                self._copy_lines(self._anchored_at[event.anchor], path)
            return self._anchors[event.anchor]
        value: Any
        if isinstance(event, yaml.ScalarEvent):
            value = self._scalar(loader, event, path)
        elif isinstance(event, yaml.SequenceStartEvent):
            value = []
            while not loader.check_event(yaml.SequenceEndEvent):
                if self.track:
                    self.lines[(*path, len(value))] = _line(loader.peek_event())
                value.append(self._value(loader, (*path, len(value))))
            loader.get_event()
        else:
            value = self._mapping(loader, path)
        if event.anchor is not None:
            self._anchors[event.anchor] = value
            self._anchored_at[event.anchor] = path
        return value

    def _copy_lines(self, source: KeyPath, path: KeyPath) -> None:
        """What an alias repeats was written where its anchor is: its keys' lines are there."""
        depth = len(source)
        for key, line in list(self.lines.items()):
            if len(key) > depth and key[:depth] == source:
                self.lines[path + key[depth:]] = line

    def _scalar(self, loader: Any, event: Any, path: KeyPath) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self._tag(loader, event)
        line = _line(event)
        if tag == _STR_TAG:
            value = event.value
            if self.expand and "$" in value:
                return self._expand(value, path, line)
            return value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return loader.construct_object(node, deep=True)
        except ValueError as exc:  # e.g. a date like 2024-13-45: YAML reads it as a timestamp
            self._problem(path, line, f"cannot read {event.value!r}: {exc}")
        except yaml.constructor.ConstructorError as exc:
            self._problem(path, line, f"cannot read {event.value!r}: {exc.problem}")
        finally:
            loader.constructed_objects.pop(node, None)
        return None

    def _tag(self, loader: Any, event: Any) -> str:
        """The tag YAML gives a plain scalar; keys and common values repeat, so remembered."""
        key = (event.value, event.implicit)
        tag = self._tags.get(key)
        if tag is None:
            tag = self._tags[key] = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        return tag

    def _mapping(self, loader: Any, path: KeyPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        merged: dict[str, Any] = {}
        while not loader.check_event(yaml.MappingEndEvent):
            key_event = loader.peek_event()
            line = _line(key_event)
            if not isinstance(key_event, yaml.ScalarEvent):
                self._skip(loader)
                self._skip(loader)
                self._problem(path, line, "a key must be a plain name, not a list or mapping")
                continue
            loader.get_event()
            key = str(key_event.value)
            if key_event.tag is None and self._tag(loader, key_event) == _MERGE_TAG:
                merged.update(self._merge(loader, path, line))
                continue
            if key in first_line:
                self._skip(loader)
                self._problem(
                    path, line, f"duplicate key {key!r} (first at line {first_line[key]})"
                )
                continue
            first_line[key] = line
            result[key] = self._value(loader, (*path, key))
        loader.get_event()
        if self.track:
            for key, line in first_line.items():  # a key written here wins over a merged one
                self.lines[(*path, key)] = line
        return {**merged, **result} if merged else result

    def _merge(self, loader: Any, path: KeyPath, line: int) -> dict[str, Any]:
        """``<<: *anchor`` (or a list of anchors): keys written beside it win, and among the
        anchors of a list the earlier one wins."""
        value = self._value(loader, path)
        merged: dict[str, Any] = {}
        for source in reversed(value if isinstance(value, list) else [value]):
            if not isinstance(source, dict):
                self._problem(path, line, "'<<' must merge a mapping")
                continue
            merged.update(source)
        return merged

    def _skip(self, loader: Any) -> None:
        """Consume one node's events, unread."""
        depth = 0
        while True:
            event = loader.get_event()
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
            if depth == 0:
                return

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


def _line(event: Any) -> int:
    """The 1-based line where a parser event began."""
    return int(event.start_mark.line) + 1


def _yaml_error(exc: yaml.MarkedYAMLError) -> tuple[int | None, str]:
    """(line, message) for a YAML syntax error, naming where the broken construct began."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    message = f"invalid YAML: {exc.problem or exc.context}"
    if exc.problem and exc.context:
        started = exc.context_mark.line + 1 if exc.context_mark is not None else None
        message += f" ({exc.context}" + (f" started at line {started})" if started else ")")
    return line, message
