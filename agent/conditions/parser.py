"""The conditions language: ``[STATUS] in 200..299`` parsed once, at load, into a typed check.

Grammar (the right side is read according to the fact's type)::

    condition := ref op right | ref ("exists" | "not exists")
    ref       := "[" NAME ("." KEY)? "]"          KEY may hold [..] and "quoted" parts
    op        := == | != | < | <= | > | >= | [not] in | [not] contains | [not] matches
    right     := number | duration | low..high | "(" item ("," item)* ")"
               | "quoted string" | rest of the line (text or a regex)

Every mistake is a ``ConditionError`` naming what was expected; nothing is guessed or
silently turned into a zero.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from agent.conditions.evaluate import (
    ORDERING,
    UNARY,
    Comparison,
    Condition,
    FactRef,
    OneOf,
    Op,
    Pattern,
    Range,
    build,
)
from agent.conditions.facts import Fact, FactType
from agent.durations import parse_duration

__all__ = ["Condition", "ConditionError", "compile_condition"]

_NAME = re.compile(r"[^\].\s\[]+")
_OP = re.compile(r"==|!=|<=|>=|<|>|(?:not\s+)?(?:in|contains|matches|exists)\b")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_BARE_ITEM = re.compile(r"[^,)]*")
_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


class _Kind(NamedTuple):
    """How one fact type reads its right side, and how errors describe it."""

    described: str
    ops: tuple[Op, ...]
    one: str  # what an ordering (<, >=, ...) expects
    many: str  # what a set membership (in, and == for numbers) expects
    example: str = "1..10"


_TEXTUAL = frozenset({Op.CONTAINS, Op.NOT_CONTAINS, Op.MATCHES, Op.NOT_MATCHES})
_NUMERIC_OPS = tuple(op for op in Op if op not in _TEXTUAL)
_TEXT_OPS = tuple(op for op in Op if op not in ORDERING)
_KINDS = {
    FactType.INT: _Kind(
        "an integer", _NUMERIC_OPS, "an integer like 200",
        "an integer, a range like 200..299 or a set like (200, 204)", "200..299"),
    FactType.NUMBER: _Kind(
        "a number", _NUMERIC_OPS, "a number like 0.5",
        "a number, a range like 0.5..1.5 or a set like (1, 2.5)", "0.5..1.5"),
    FactType.DURATION: _Kind(
        "a duration", _NUMERIC_OPS, "a duration like 300ms, 2s or 30d",
        "a duration like 300ms, a range like 100ms..2s or a set like (1s, 2s)", "100ms..2s"),
    FactType.STRING: _Kind(
        "text", _TEXT_OPS, "", 'a set like ("TLS 1.2", "TLS 1.3")'),
    FactType.ANY: _Kind(
        "a JSON value", tuple(Op), "a number like 0.5",
        'a range like 1..10 or a set like (UP, "DEGRADED")'),
}  # fmt: skip
_NUMERIC = frozenset({FactType.INT, FactType.NUMBER, FactType.DURATION})
_MATCHES = frozenset({Op.MATCHES, Op.NOT_MATCHES})
_IN = frozenset({Op.IN, Op.NOT_IN})


class ConditionError(ValueError):
    """A condition that cannot be compiled; the message quotes it and says what to write."""

    def __init__(self, condition: str, detail: str) -> None:
        self.condition = condition
        self.detail = detail
        text = condition.strip()
        super().__init__(f"{text}: {detail}" if text else detail)

    def __reduce__(self) -> tuple[type[ConditionError], tuple[str, str]]:
        return ConditionError, (self.condition, self.detail)


class _Invalid(Exception):
    def __init__(self, detail: str) -> None:
        self.detail = detail


def compile_condition(text: str, facts: Mapping[str, Fact]) -> Condition:
    """Parse and type-check ``text`` against ``facts`` (name -> Fact) once, at load.

    Raises ConditionError for an unknown placeholder (with a "did you mean"), a key on a fact
    without a lookup, an operator the fact's type does not support, or an operand that does
    not read as the fact's type (an integer, a duration, a range, a regex, ...).
    """
    try:
        comparison, fact = _parse(text, facts)
    except _Invalid as exc:
        raise ConditionError(text, exc.detail) from None
    return build(text, comparison, fact)


class _Scanner:
    """The lexer: a cursor that hands out the next token the grammar asks for."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def take(self, token: str | re.Pattern[str]) -> str | None:
        """The token at the cursor (after any spaces), consumed; None if it is not there."""
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        if isinstance(token, str):
            found = token if self.text.startswith(token, self.pos) else None
            self.pos += len(found or "")
            return found
        match = token.match(self.text, self.pos)
        self.pos = match.end() if match else self.pos
        return match.group() if match else None

    def rest(self) -> str:
        return self.text[self.pos :].strip()


def _parse(text: str, facts: Mapping[str, Fact]) -> tuple[Comparison, Fact]:
    scan = _Scanner(text)
    if not scan.rest():
        raise _Invalid("a condition cannot be empty; write one like [STATUS] == 200")
    ref = _parse_ref(scan, facts)
    fact = facts[ref.name]
    kind = fact.keyed_type if ref.key is not None else fact.type
    op = _parse_op(scan, ref, kind)
    right_text = scan.rest()
    if op in UNARY:
        if right_text:
            raise _Invalid(f'unexpected "{right_text}" after {op}')
        return Comparison(ref, op, kind), fact
    if not right_text:
        raise _Invalid(f"expected {_expected(kind, op)} after {op}")
    return Comparison(ref, op, kind, _operand(right_text, op, kind), right_text), fact


def _parse_ref(scan: _Scanner, facts: Mapping[str, Fact]) -> FactRef:
    known = ", ".join(f"[{name}]" for name in facts)
    if not scan.take("["):
        raise _Invalid(f"a condition starts with a placeholder in brackets; known: {known}")
    name = scan.take(_NAME)
    if name is None:
        raise _Invalid(f"expected a placeholder name after [; known: {known}")
    if name not in facts:
        close = difflib.get_close_matches(name.upper().replace("-", "_"), list(facts), 1)
        hint = f"; did you mean [{close[0]}]?" if close else ";"
        raise _Invalid(f"unknown placeholder [{name}]{hint} known: {known}")
    if scan.take("]"):
        return FactRef(name)
    if scan.text.startswith(".", scan.pos):
        scan.pos += 1
        key = _scan_key(scan, name)
        if facts[name].lookup is not None:
            return FactRef(name, key)
        keyed = ", ".join(f"[{n}.key]" for n, f in facts.items() if f.lookup is not None)
        where = f"; keys work on {keyed}" if keyed else ""
        raise _Invalid(f"[{name}] takes no key (.{key}){where}")
    raise _Invalid(f"expected ] after [{name}")


def _scan_key(scan: _Scanner, name: str) -> str:
    """Everything up to the ``]`` that closes the placeholder: ``items[0].id``, ``"a]b"``."""
    text, start, depth, i = scan.text, scan.pos, 0, scan.pos
    while i < len(text):
        quoted = _QUOTED.match(text, i) if text[i] == '"' else None
        if quoted is not None:
            i = quoted.end()
            continue
        if text[i] == "]" and depth == 0:
            scan.pos = i + 1
            if i == start:
                raise _Invalid(f"expected a key after [{name}., like [{name}.id]")
            return text[start:i]
        depth += {"[": 1, "]": -1}.get(text[i], 0)
        i += 1
    raise _Invalid(f"expected ] to close [{name}.{text[start:].strip()}")


def _parse_op(scan: _Scanner, ref: FactRef, kind: FactType) -> Op:
    allowed = _KINDS[kind].ops
    word = scan.take(_OP)
    if word is None:
        if scan.take("=") and not scan.take("="):
            raise _Invalid("use == to compare, not =")
        raise _Invalid(f"expected an operator after {ref}: {_or(allowed)}")
    op = Op(" ".join(word.split()))
    if op not in allowed:
        described = _KINDS[kind].described
        raise _Invalid(f"{op} does not apply to {ref} ({described}); use {_or(allowed)}")
    return op


def _or(ops: tuple[Op, ...]) -> str:
    return ", ".join(ops[:-1]) + f" or {ops[-1]}"


def _expected(kind: FactType, op: Op) -> str:
    if op in _MATCHES:
        return "a regex"
    if op in ORDERING:
        return _KINDS[kind].one
    if op in _IN or kind in _NUMERIC:  # numbers take ranges and sets after == as well
        return _KINDS[kind].many
    return 'text or a "quoted string"' if kind is FactType.STRING else "a value like UP, 42 or true"


def _operand(text: str, op: Op, kind: FactType) -> Any:
    """The right side, read as the fact's type: a value, a Range, a OneOf or a Pattern."""
    if op in _MATCHES:
        return _regex(text)
    if op in ORDERING:
        return _number(text, FactType.NUMBER if kind is FactType.ANY else kind, _expected(kind, op))
    if op not in _IN and kind not in _NUMERIC:
        return _json_value(text) if kind is FactType.ANY else _unquote(text)
    if text.startswith("("):
        items = [_item(item, quoted, op, kind) for item, quoted in _set_items(text)]
        ranges = tuple(item for item in items if isinstance(item, Range))
        return OneOf(tuple(item for item in items if not isinstance(item, Range)), ranges)
    item = _item(text, False, op, kind)
    if kind not in _NUMERIC and not isinstance(item, Range):
        raise _Invalid(f"expected {_KINDS[kind].many}")
    return item


def _item(text: str, quoted: bool, op: Op, kind: FactType) -> Any:
    """One member of a set: a value or a ``low..high`` range (numbers only)."""
    if kind is FactType.STRING or (quoted and kind is FactType.ANY):
        return text
    low, dots, high = (part.strip() for part in text.partition(".."))
    example = _KINDS[kind].example
    if kind is FactType.ANY:
        if not (dots and _FLOAT.fullmatch(low) and _FLOAT.fullmatch(high)):
            return _json_value(text)
        kind = FactType.NUMBER
    expected = _expected(kind, op)
    if not dots:
        return _number(text, kind, expected)
    range_ = Range(_number(low, kind, expected), _number(high, kind, expected))
    if range_.low > range_.high:
        raise _Invalid(f"{text} runs backwards: expected low..high, like {example}")
    return range_


def _number(text: str, kind: FactType, expected: str) -> float:
    """An int, a number or a duration in seconds; anything else says what was expected."""
    if kind is FactType.DURATION:
        with contextlib.suppress(ValueError):
            return parse_duration(text)
    elif _INT.fullmatch(text):
        return int(text)
    elif kind is FactType.NUMBER and _FLOAT.fullmatch(text):
        return float(text)
    raise _Invalid(f"expected {expected}")


def _json_value(text: str) -> Any:
    """``42``, ``true``, ``null``, ``{"a": 1}`` as JSON; ``"UP"`` or bare ``UP`` as text."""
    if _QUOTED.fullmatch(text):
        return _unquote(text)
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return text


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not values a person means


def _unquote(text: str) -> str:
    """A right side wrapped in double quotes is a JSON string; anything else is verbatim."""
    if not _QUOTED.fullmatch(text):
        return text
    try:
        return str(json.loads(text, strict=False))  # a raw newline inside is fine
    except ValueError:
        raise _Invalid(
            r"bad escape in a quoted string; write \" for a quote, \\ for a backslash"
        ) from None


def _regex(text: str) -> Pattern:
    """Rest of the line, or inside double quotes taken as is (no escapes but the regex's)."""
    source = text[1:-1] if _QUOTED.fullmatch(text) else text
    try:
        return Pattern(re.compile(source))
    except re.error as exc:
        raise _Invalid(f"invalid regex: {exc}") from None


def _set_items(text: str) -> list[tuple[str, bool]]:
    """``(a, "b, c", 3..5)`` -> [(text, was_quoted), ...]; quotes protect commas and parens."""
    scan = _Scanner(text[1:])
    if scan.take(")"):
        raise _Invalid("expected at least one value between ( and )")
    items: list[tuple[str, bool]] = []
    while True:
        quoted = scan.take(_QUOTED)
        bare = None if quoted is not None else (scan.take(_BARE_ITEM) or "").strip()
        if not (quoted or bare):
            raise _Invalid("empty value in the set")
        items.append((_unquote(quoted), True) if quoted is not None else (bare or "", False))
        if scan.take(")"):
            break
        if not scan.take(","):
            raise _Invalid('expected "," or ")" in the set')
    if scan.rest():
        raise _Invalid(f'unexpected "{scan.rest()}" after the set')
    return items
