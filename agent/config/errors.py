"""Config problems a person can act on: file, line, key path and a plain message."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

PathPart = str | int
KeyPath = tuple[PathPart, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_KEY_ERRORS = ("missing", "extra_forbidden")
_PREFIXES = ("Value error, ", "Assertion failed, ")
_KINDS_OF_DATA = {
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true/false",
    list: "a list",
    dict: "a mapping",
    type(None): "nothing (null)",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config; ``line`` is 1-based, ``path`` is ``a.b[0].c`` or empty."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """A config that cannot be used, with every problem found (not just the first)."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def format_path(path: Sequence[PathPart]) -> str:
    """``("patterns", "bp", "probes", 0)`` -> ``patterns.bp.probes[0]``; odd keys are quoted."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def sort_problems(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    """File-level problems first, then by line; the order found is kept within a line."""
    return tuple(sorted(problems, key=lambda p: p.line or 0))


def validation_problems(
    exc: ValidationError,
    *,
    file: str,
    model: type[BaseModel],
    data: Any,
    line_for: Callable[[KeyPath], int | None],
    hide: Mapping[KeyPath, frozenset[str]] | None = None,
) -> list[Problem]:
    """Every pydantic error as a Problem at the line of the key it is about.

    ``hide`` maps the paths whose value came from the environment to the values to keep out
    of messages, so a secret that fails validation is not echoed back in the error.
    """
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        path = _data_path(error["loc"], data, error["type"])
        parent, message = _describe(error, path, model)
        for secret in (hide or {}).get(path, frozenset()):
            message = message.replace(secret, "<hidden>")
        problem = Problem(file, line_for(path), format_path(parent), message)
        if problem not in problems:  # a union reports one error per member
            problems.append(problem)
    return problems


def _data_path(loc: tuple[int | str, ...], data: Any, kind: str) -> KeyPath:
    """The loc with pydantic's own steps (``function-after[...]``, union tags) left out.

    A step is real when the data has it; the last step of ``missing`` and ``extra_forbidden``
    is the key in question; ``[key]`` marks an error in a mapping key and is kept.
    """
    path: list[PathPart] = []
    node = data
    for index, part in enumerate(loc):
        if _has(node, part):
            node = node[part]
        elif part != "[key]" and (index < len(loc) - 1 or kind not in _KEY_ERRORS):
            continue
        path.append(part)
    return tuple(path)


def _has(node: Any, part: PathPart) -> bool:
    if isinstance(node, list):
        return isinstance(part, int) and 0 <= part < len(node)
    return isinstance(node, dict) and part in node


def _describe(error: ErrorDetails, path: KeyPath, model: type[BaseModel]) -> tuple[KeyPath, str]:
    """(path to report at, message): key problems are reported at the mapping holding the key."""
    kind, message = error["type"], error["msg"]
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    if kind == "missing" and path:
        return path[:-1], f"missing required key {path[-1]!r}"
    if kind == "extra_forbidden" and path:
        return path[:-1], f"unknown key {path[-1]!r}{_suggest(str(path[-1]), model, path[:-1])}"
    if kind == "string_pattern_mismatch":
        message = f"must match {error.get('ctx', {}).get('pattern', 'the allowed pattern')}"
    if path and path[-1] == "[key]":
        return path[:-2], f"invalid name {path[-2]!r}: {message}"
    if kind in ("model_type", "dict_type"):
        return path, f"expected a mapping of keys, got {_kind_of(error['input'])}"
    if kind in ("list_type", "tuple_type"):
        return path, f"expected a list, got {_kind_of(error['input'])}"
    message = message.replace(" after validation", "")
    shown = error.get("input")
    if kind not in ("value_error", "assertion_error") and isinstance(shown, str | int | float):
        text = repr(shown) if len(repr(shown)) <= 40 else repr(shown)[:37] + "..."
        message = f"{message} (got {text})"
    return path, message


def _kind_of(value: object) -> str:
    return next((name for t, name in _KINDS_OF_DATA.items() if type(value) is t), "a value")


def _suggest(key: str, model: type[BaseModel], parent: KeyPath) -> str:
    allowed = _fields_at(model, parent)
    if not allowed:
        return ""
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; allowed keys: {', '.join(allowed)}"


def _fields_at(model: type[BaseModel], path: KeyPath) -> list[str]:
    """The keys a model allows at a data path, walking fields, dict values and list items."""
    types_here: list[Any] = [model]
    for part in path:
        following: list[Any] = []
        for tp in _members(types_here):
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                field = tp.model_fields.get(str(part))
                if field is not None:
                    following.append(field.annotation)
            elif typing.get_origin(tp) in (dict, Mapping):
                following.append(typing.get_args(tp)[1])
            elif typing.get_origin(tp) in (list, tuple, Sequence) and isinstance(part, int):
                following.append(typing.get_args(tp)[0])
        types_here = following
    names: list[str] = []
    for tp in _members(types_here):
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            names += [name for name in tp.model_fields if name not in names]
    return names


def _members(candidates: Iterable[Any]) -> list[Any]:
    """Unwrap ``Annotated`` and unions into the plain types they may stand for."""
    out: list[Any] = []
    for tp in candidates:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            out += _members([typing.get_args(tp)[0]])
        elif origin in (typing.Union, types.UnionType):
            out += _members(typing.get_args(tp))
        else:
            out.append(tp)
    return out
