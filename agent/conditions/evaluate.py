"""A parsed condition's AST, and the cheap typed check it is compiled into once, at load."""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agent.conditions.facts import Fact, FactType
from agent.results import ConditionOutcome, Reason


class Op(StrEnum):
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    IN = "in"
    NOT_IN = "not in"
    CONTAINS = "contains"
    NOT_CONTAINS = "not contains"
    MATCHES = "matches"
    NOT_MATCHES = "not matches"
    EXISTS = "exists"
    NOT_EXISTS = "not exists"


ORDERING = frozenset({Op.LT, Op.LE, Op.GT, Op.GE})
UNARY = frozenset({Op.EXISTS, Op.NOT_EXISTS})
_POSITIVE = {op: Op(op.removeprefix("not ")) for op in Op if op.startswith("not ")} | {Op.NE: Op.EQ}
_ORDER = {Op.LT: operator.lt, Op.LE: operator.le, Op.GT: operator.gt, Op.GE: operator.ge}
CLIP = 64
SCRUB_WINDOW = 4096  # characters of a value scrubbed before its first CLIP are shown
_NUMERIC_TEXT = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True, slots=True)
class FactRef:
    """The left side: ``[NAME]`` or ``[NAME.key]``."""

    name: str
    key: str | None = None

    def __str__(self) -> str:
        return f"[{self.name}]" if self.key is None else f"[{self.name}.{self.key}]"


@dataclass(frozen=True, slots=True)
class Range:
    """``low..high``, both ends included."""

    low: float
    high: float


@dataclass(frozen=True, slots=True)
class OneOf:
    """``(200, 204, 300..399)``: a value equal to one of ``values`` or inside one of ``ranges``."""

    values: tuple[Any, ...]
    ranges: tuple[Range, ...] = ()


@dataclass(frozen=True, slots=True)
class Pattern:
    """A regex, compiled at load; it matches when ``search`` finds it anywhere."""

    regex: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Comparison:
    """One condition as parsed. ``right`` is typed by ``type``: a number (seconds for a
    duration), text, a JSON value, a Range, a OneOf or a Pattern; None for exists."""

    left: FactRef
    op: Op
    type: FactType
    right: Any = None
    right_text: str = ""


def _same(value: Any) -> Any:
    return value


class _Bad:
    """The value could not be read as the fact's type: the condition fails."""


BAD: Any = _Bad()


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled condition. ``evaluate`` never raises and does no parsing: every operand,
    regex, coercion and piece of the observed text was prepared by ``build``."""

    text: str
    reason: Reason
    comparison: Comparison = field(hash=False)
    _lookup: Callable[[Any, str], Any] | None = field(compare=False, repr=False)
    _coerce: Callable[[Any], Any] = field(compare=False, repr=False)
    _test: Callable[[Any], bool] = field(compare=False, repr=False)
    _negate: bool = field(compare=False, repr=False)
    _show: Callable[[Any], str] = field(compare=False, repr=False)
    _head: str = field(compare=False, repr=False)
    _tail: str = field(compare=False, repr=False)

    def evaluate(
        self, facts: Mapping[str, Any], scrub: Callable[[str], str] = _same
    ) -> ConditionOutcome:
        """Test the run's facts; a missing or unreadable value fails (``not exists`` aside).

        ``scrub`` masks secrets and card numbers in the value before it is clipped for the
        observed text: clipped first, a secret cut in two would no longer be recognised.
        """
        op = self.comparison.op
        value = facts.get(self.comparison.left.name)
        if value is None:
            return self._outcome(op is Op.NOT_EXISTS, "no value")
        if self._lookup is not None:
            try:
                value = self._lookup(value, self.comparison.left.key or "")
            except LookupError:
                return self._outcome(op is Op.NOT_EXISTS, "absent")
            except ValueError as exc:
                return self._outcome(False, clip(scrub(str(exc))) if str(exc) else "unreadable")
            except Exception as exc:  # a lookup's bug must not take the run down
                return self._outcome(False, f"lookup failed: {type(exc).__name__}")
        try:
            shown = clip(scrub(self._show(value)[:SCRUB_WINDOW]))
            if op in UNARY:
                return self._outcome(op is Op.EXISTS, shown)
            coerced = self._coerce(value)
            success = coerced is not BAD and self._test(coerced) is not self._negate
        except Exception as exc:  # a value of a type nobody expected: fail, never raise
            return self._outcome(False, f"cannot compare {type(exc).__name__}")
        return ConditionOutcome(self.text, success, self._head + shown + self._tail)

    def _outcome(self, success: bool, shown: str) -> ConditionOutcome:
        return ConditionOutcome(self.text, success, self._head + shown + self._tail)


def build(text: str, comparison: Comparison, fact: Fact) -> Condition:
    """Turn a parsed comparison into its precomputed check."""
    kind, op, right = comparison.type, comparison.op, comparison.right
    positive = _POSITIVE.get(op, op)
    coerce: Callable[[Any], Any]
    test: Callable[[Any], bool]
    if op in UNARY:
        coerce, test = _same, bool
    elif kind is FactType.ANY:
        coerce = as_number if op in ORDERING else _same
        test = _any_test(positive, right)
    elif kind is FactType.STRING:
        coerce, test = as_text, _text_test(positive, right)
    else:
        coerce, test = as_number, _number_test(positive, right)
    tail = f") {op}" + (f" {comparison.right_text}" if op not in UNARY else "")
    return Condition(
        text=text,
        reason=fact.reason,
        comparison=comparison,
        _lookup=fact.lookup if comparison.left.key is not None else None,
        _coerce=coerce,
        _test=test,
        _negate=positive is not op,
        _show=_shower(fact, comparison),
        _head=f"{comparison.left} (",
        _tail=tail,
    )


def _number_test(op: Op, right: Any) -> Callable[[Any], bool]:
    if op in ORDERING:
        compare = _ORDER[op]
        return lambda n: compare(n, right)
    if isinstance(right, Range):
        low, high = right.low, right.high
        return lambda n: low <= n <= high
    if isinstance(right, OneOf):
        values, ranges = frozenset(right.values), right.ranges
        return lambda n: n in values or any(r.low <= n <= r.high for r in ranges)
    return lambda n: n == right


def _text_test(op: Op, right: Any) -> Callable[[Any], bool]:
    if op is Op.CONTAINS:
        return lambda s: right in s
    if isinstance(right, Pattern):
        search = right.regex.search
        return lambda s: search(s) is not None
    if isinstance(right, OneOf):
        return frozenset(right.values).__contains__
    return lambda s: s == right


def _any_test(op: Op, right: Any) -> Callable[[Any], bool]:
    """JSON values: numbers compare as numbers, anything else as its JSON text."""
    if op in ORDERING:
        return _number_test(op, right)
    if isinstance(right, Pattern):
        search = right.regex.search
        return lambda v: search(json_text(v)) is not None
    if isinstance(right, OneOf | Range):
        one_of = right if isinstance(right, OneOf) else OneOf((), (right,))
        numbers = frozenset(v for v in one_of.values if is_number(v))
        texts = frozenset(json_text(v) for v in one_of.values if not is_number(v))
        in_range = _number_test(Op.IN, OneOf(tuple(numbers), one_of.ranges))

        def member(v: Any) -> bool:
            n = as_number(v)
            return (n is not BAD and in_range(n)) or json_text(v) in texts

        return member
    if is_number(right):
        equal: Callable[[Any], bool] = lambda v: as_number(v) == right  # noqa: E731
    else:
        right_text = json_text(right)
        equal = lambda v: json_text(v) == right_text  # noqa: E731
    if op is not Op.CONTAINS:
        return equal
    needle = json_text(right)

    def contains(v: Any) -> bool:
        if isinstance(v, list):
            return any(equal(item) for item in v)
        if isinstance(v, dict):
            return needle in v
        return needle in json_text(v)

    return contains


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_number(value: Any) -> Any:
    """int/float as is; a numeric string (JSON APIs send amounts as text) parsed; else BAD."""
    kind = type(value)
    if kind is int or kind is float:
        return value
    if is_number(value):
        return float(value) if isinstance(value, float) else int(value)
    if isinstance(value, str) and _NUMERIC_TEXT.fullmatch(text := value.strip()):
        return float(text) if any(c in text for c in ".eE") else int(text)
    return BAD


def as_text(value: Any) -> str:
    if isinstance(value, str):  # a str subclass (the http Body) is used as is, not copied
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return json_text(value)


def json_text(value: Any) -> str:
    """Text a person would write for the value: raw strings, JSON spelling for the rest."""
    if isinstance(value, str):
        return value
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    if is_number(value):
        return number_text(value)
    if isinstance(value, Mapping):
        value = dict(value)
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return str(value)


def number_text(value: float) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(int(value))


def duration_text(seconds: float) -> str:
    """``123.4ms``, ``1.2s``, ``29d23h59m12.5s``: millisecond precision, parseable back."""
    if not math.isfinite(seconds):
        return repr(seconds)
    if seconds < 0:
        return "-" + duration_text(-seconds)
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000, 3):g}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    rest, parts = round(seconds * 1000), []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    if rest:
        parts.append(f"{rest / 1000:g}s")
    return "".join(parts)


def size_text(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    return f"{size / 1_000_000:.1f} MB"


def clip(text: str) -> str:
    """At most ``CLIP`` characters on one line: header values and JSON fields can be long."""
    if len(text) > CLIP:
        text = text[: CLIP - 1] + "…"
    if not text.isprintable():
        text = repr(text)[1:-1]
    return text


def _show_value(value: Any) -> str:
    """The value's whole text: ``evaluate`` scrubs it, then clips it."""
    return json_text(value) or '""'


def _show_number(value: Any) -> str:
    n = as_number(value)
    return _show_value(value) if n is BAD else number_text(n)


def _show_duration(value: Any) -> str:
    n = as_number(value)
    return _show_value(value) if n is BAD else duration_text(n)


def _show_size(value: Any) -> str:
    """A body is shown as its size, never its content: it may hold anything."""
    if isinstance(value, str):
        return size_text(len(value) if value.isascii() else len(value.encode()))
    if isinstance(value, bytes | bytearray):
        return size_text(len(value))
    return _show_value(value)


def is_body(fact: Fact) -> bool:
    return fact.type is FactType.STRING and (fact.name == "BODY" or fact.name.endswith("_BODY"))


def _shower(fact: Fact, comparison: Comparison) -> Callable[[Any], str]:
    if comparison.left.key is None and is_body(fact):
        return _show_size
    if comparison.type is FactType.DURATION:
        return _show_duration
    if comparison.type in (FactType.INT, FactType.NUMBER):
        return _show_number
    return _show_value
