"""What http conditions may test: ``[STATUS]``, ``[BODY.a.b[0]]``, ``[HEADER.Name]`` and more."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from typing import Any

from agent.conditions.facts import Fact, FactType
from agent.probers.tlsconf import TlsFacts
from agent.results import Reason

_NOT_PARSED = object()


class Body(str):
    """The response body as text; parsed as JSON once, on the first keyed lookup."""

    _json: Any = _NOT_PARSED

    @classmethod
    def decode(cls, raw: bytes, charset: str | None) -> Body:
        """Text from the declared charset (UTF-8 when none or unknown); bad bytes replaced."""
        try:
            codecs.lookup(charset or "utf-8")
        except LookupError:
            charset = None
        return cls(raw.decode(charset or "utf-8", "replace"))

    def json(self) -> Any:
        """The body as JSON; ``ValueError("body is not JSON")`` when it is not."""
        if self._json is _NOT_PARSED:
            try:
                self._json = json.loads(self)
            except ValueError:
                self._json = ValueError("body is not JSON")
        if isinstance(self._json, ValueError):
            raise ValueError(str(self._json))
        return self._json


_FIRST = re.compile(r'(?P<name>[^.\[\]"]+)|\[(?P<index>-?\d+)\]|\["(?P<quoted>[^"]*)"\]')
_NEXT = re.compile(r'\.(?P<name>[^.\[\]"]+)|\[(?P<index>-?\d+)\]|\["(?P<quoted>[^"]*)"\]')


def parse_path(path: str) -> tuple[str | int, ...]:
    """``data.items[0].id`` -> ("data", "items", 0, "id"); ``["a.b"]`` quotes a key with dots.

    A malformed path is a ``LookupError`` (the condition fails and says why).
    """
    steps: list[str | int] = []
    pos = 0
    while pos < len(path):
        match = (_NEXT if steps else _FIRST).match(path, pos)
        if match is None:
            raise LookupError(f"bad JSON path {path!r} at {path[pos:]!r}")
        index = match.group("index")
        steps.append(int(index) if index is not None else match.group("name") or match["quoted"])
        pos = match.end()
    if not steps:
        raise LookupError("empty JSON path")
    return tuple(steps)


def json_lookup(body: Any, path: str) -> Any:
    """The JSON value at ``path`` in ``body``.

    ``ValueError("body is not JSON")`` when the body does not parse; ``LookupError`` naming
    the first step that does not exist (``data.items has no [3]``).
    """
    value = body.json() if isinstance(body, Body) else Body(body).json()
    shown = "body"
    for step in parse_path(path):
        if isinstance(step, int):
            if not isinstance(value, list):
                raise LookupError(f"{shown} is not an array")
            if not -len(value) <= step < len(value):
                raise LookupError(f"{shown} has no [{step}]")
            value = value[step]
            shown = f"{'' if shown == 'body' else shown}[{step}]"
        else:
            if not isinstance(value, dict):
                raise LookupError(f"{shown} is not an object")
            if step not in value:
                raise LookupError(f"{shown} has no {step!r}")
            value = value[step]
            shown = step if shown == "body" else f"{shown}.{step}"
    return value


def header_lookup(headers: Mapping[str, str], name: str) -> str:
    """The named response header, case-insensitively; repeated headers joined with ``, ``."""
    getall = getattr(headers, "getall", None)
    if getall is not None:
        values = getall(name, None)
    else:
        lowered = name.lower()
        values = [v for k, v in headers.items() if k.lower() == lowered] or None
    if not values:
        raise LookupError(f"no {name} header")
    return ", ".join(values)


STATUS = Fact("STATUS", FactType.INT, Reason.STATUS_MISMATCH, "the final response's status code")
BODY = Fact(
    "BODY",
    FactType.STRING,
    Reason.BODY_MISMATCH,
    "the response body as text; [BODY.data.items[0].id] reads a JSON path",
    lookup=json_lookup,
    keyed_type=FactType.ANY,
)
HEADER = Fact(
    "HEADER",
    FactType.STRING,
    Reason.HEADER_MISMATCH,
    "response headers; [HEADER.Content-Type] reads one, case-insensitively",
    lookup=header_lookup,
    keyed_type=FactType.STRING,
)
HTTP_VERSION = Fact(
    "HTTP_VERSION", FactType.STRING, Reason.CONDITION_FAILED, "the response's version, e.g. 1.1"
)
FACTS = (STATUS, BODY, HEADER, HTTP_VERSION, *TlsFacts)
