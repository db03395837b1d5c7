"""Where files sit on the agent's disk stays on the agent: the status view names them only.

A config names files (a token file, a client certificate, a CA, a disk to watch, a plugin);
their absolute paths show up in targets, phases and messages. The status API and pages show
each by its last part (``kyc-token.jwt``), and anything under the config's own directory
relative to it, as the audit and compliance answers name the config file and not its place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel

from agent.plan import Plan

_START = r"(?<![\w./-])"  # a path starts here, not inside another word or path


class PathHider:
    """Shows every known absolute path in a text by its last part, and a path under the
    config's directory relative to it; immutable."""

    __slots__ = ("_exact", "_names", "_prefix")

    def __init__(self, paths: set[str], directory: str | None = None) -> None:
        self._names = {p.rstrip("/"): PurePosixPath(p).name for p in paths if p.startswith("/")}
        self._names.pop("", None)  # the root says nothing
        self._prefix = None
        if directory and directory.startswith("/") and directory.rstrip("/"):
            self._prefix = re.compile(_START + re.escape(directory.rstrip("/") + "/"))
            self._names[directory.rstrip("/")] = PurePosixPath(directory).name
        ordered = sorted(self._names, key=lambda p: (-len(p), p))
        alternatives = "|".join(map(re.escape, ordered))
        self._exact = re.compile(f"{_START}(?:{alternatives})(?![\\w.-])") if ordered else None

    def hide(self, text: str) -> str:
        if self._exact is None or "/" not in text:
            return text
        if self._prefix is not None:
            text = self._prefix.sub("", text)
        return self._exact.sub(lambda m: self._names[m.group()], text)

    def tree(self, value: Any) -> Any:
        """``value`` (JSON-ready: dicts, lists, strings) with every string and key hidden."""
        if self._exact is None:
            return value
        return _map(value, self.hide)


def plan_paths(plan: Plan) -> PathHider:
    """A hider for the absolute paths the plan's probes name and the config's directory."""
    found: set[str] = set()
    for probe in plan.probes.values():
        found.update(s for s in _strings(probe.settings) if s.startswith("/"))
    return PathHider(found, str(PurePosixPath(plan.source).parent) if plan.source else None)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _strings(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple | frozenset | set):
        for item in value:
            yield from _strings(item)


def _map(value: Any, hide: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return hide(value)
    if isinstance(value, dict):
        return {hide(k) if isinstance(k, str) else k: _map(v, hide) for k, v in value.items()}
    if isinstance(value, list):
        return [_map(v, hide) for v in value]
    return value
