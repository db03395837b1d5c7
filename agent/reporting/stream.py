"""JSON documents built as they are written, so a large one never holds the loop.

At 10,000 integrations the status document is megabytes; built and encoded in one go it would
hold the event loop for most of a second, while probes wait to be scheduled. A view returns
its large parts as ``Members``: a JSON object whose members are made one by one as the writer
reaches them, and the writer hands back the text a few members at a time so the server can
yield between pieces. Members are read from the live store by key as they are made: each one
is consistent, and the document as a whole spans the few milliseconds it takes to write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

_COMPACT = (",", ":")


@dataclass(frozen=True, slots=True)
class Members:
    """A JSON object whose (key, value) members are made when written; iterated once."""

    items: Iterable[tuple[str, Any]]


def pieces(document: Any, every: int = 50) -> Iterator[str]:
    """The JSON text of ``document`` in pieces, a piece at least every ``every`` members of
    any ``Members`` in it; joined, they are ``json.dumps(resolved(document))``, compact."""
    out: list[str] = []
    count = 0
    for text, member in _walk(document):
        out.append(text)
        if member:
            count += 1
            if count % every == 0:
                yield "".join(out)
                out.clear()
    if out:
        yield "".join(out)


def resolved(document: Any) -> Any:
    """``document`` with every ``Members`` made into a dict (for a page or a test)."""
    if isinstance(document, Members):
        return {key: resolved(value) for key, value in document.items}
    if isinstance(document, dict):
        return {key: resolved(value) for key, value in document.items()}
    if isinstance(document, list | tuple):
        return [resolved(value) for value in document]
    return document


def _walk(value: Any) -> Iterator[tuple[str, bool]]:
    """(text, whether a member of a ``Members`` just ended). A dict is written member by
    member when a value of its own is ``Members``; any other value is encoded whole."""
    if isinstance(value, Members):
        yield "{", False
        first = True
        for key, member in value.items:
            yield ("" if first else ",") + json.dumps(key) + ":", False
            yield from _walk(member)
            yield "", True
            first = False
        yield "}", False
    elif isinstance(value, dict) and any(isinstance(v, Members) for v in value.values()):
        yield "{", False
        for index, (key, member) in enumerate(value.items()):
            yield ("," if index else "") + json.dumps(key) + ":", False
            yield from _walk(member)
        yield "}", False
    else:
        yield json.dumps(value, separators=_COMPACT), False
