"""What a probe kind lets conditions talk about: ``[STATUS]``, ``[BODY.id]``, ``[HEADER.X]``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agent.results import Reason


class FactType(StrEnum):
    """How a condition's right-hand side is parsed and compared."""

    INT = "int"  # 200, ranges 200..299
    NUMBER = "number"  # 0.5, 12
    DURATION = "duration"  # 300ms, 2s, 30d -> seconds
    STRING = "string"  # text; contains / matches
    ANY = "any"  # a JSON value: compared as number when both sides are numbers, else as text


@dataclass(frozen=True, slots=True)
class Fact:
    """A named observation a condition may test.

    ``lookup`` makes the fact keyed: ``[BODY.items[0].id]`` calls ``lookup(body, "items[0].id")``
    and ``[HEADER.Content-Type]`` calls ``lookup(headers, "Content-Type")``. It raises
    ``LookupError`` when the key is absent and ``ValueError`` when the value cannot be read
    (a body that is not JSON); the outcome then says so instead of comparing.
    """

    name: str
    type: FactType
    reason: Reason
    help: str
    lookup: Callable[[Any, str], Any] | None = None
    keyed_type: FactType = FactType.ANY


RESPONSE_TIME = Fact(
    "RESPONSE_TIME", FactType.DURATION, Reason.THRESHOLD, "the whole probe's duration"
)
"""Every kind has it; the runner fills it in from the measured duration."""
