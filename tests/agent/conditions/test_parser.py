"""The conditions grammar: what parses to which AST, and the exact message for each mistake."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from agent.conditions.evaluate import Comparison, FactRef, OneOf, Op, Pattern, Range
from agent.conditions.facts import FactType
from agent.conditions.parser import ConditionError, compile_condition
from tests.agent.conditions.test_evaluate import FACTS

KNOWN = (
    "[STATUS], [BODY], [HEADER], [RESPONSE_TIME], [CERT_EXPIRY], [RATIO], [CONNECTED], "
    "[TLS_VERSION], [BROKEN]"
)
INT_OPS = "==, !=, <, <=, >, >=, in, not in, exists or not exists"
TEXT_OPS = "==, !=, in, not in, contains, not contains, matches, not matches, exists or not exists"
INT_MANY = "an integer, a range like 200..299 or a set like (200, 204)"

GOOD: list[tuple[str, FactRef, Op, FactType, Any]] = [
    ("[STATUS] == 200", FactRef("STATUS"), Op.EQ, FactType.INT, 200),
    ("  [STATUS]==200  ", FactRef("STATUS"), Op.EQ, FactType.INT, 200),
    ("[STATUS] in 200..299", FactRef("STATUS"), Op.IN, FactType.INT, Range(200, 299)),
    ("[STATUS] in (200, 204, 300..399)", FactRef("STATUS"), Op.IN, FactType.INT,
     OneOf((200, 204), (Range(300, 399),))),
    ("[STATUS] not   in -1..1", FactRef("STATUS"), Op.NOT_IN, FactType.INT, Range(-1, 1)),
    ("[STATUS] not exists", FactRef("STATUS"), Op.NOT_EXISTS, FactType.INT, None),
    ("[RESPONSE_TIME] < 1h30m", FactRef("RESPONSE_TIME"), Op.LT, FactType.DURATION, 5400.0),
    ("[RESPONSE_TIME] in (100ms, 1s..2s)", FactRef("RESPONSE_TIME"), Op.IN, FactType.DURATION,
     OneOf((0.1,), (Range(1.0, 2.0),))),
    ("[RATIO] >= -0.5", FactRef("RATIO"), Op.GE, FactType.NUMBER, -0.5),
    ("[RATIO] == 1.5..2", FactRef("RATIO"), Op.EQ, FactType.NUMBER, Range(1.5, 2)),
    # keys: brackets nest, quotes protect a ]
    ("[BODY.data.items[0].id] == 7", FactRef("BODY", "data.items[0].id"), Op.EQ, FactType.ANY, 7),
    ('[BODY.data["a]b"]] exists', FactRef("BODY", 'data["a]b"]'), Op.EXISTS, FactType.ANY, None),
    ("[HEADER.Content-Type] == application/json", FactRef("HEADER", "Content-Type"), Op.EQ,
     FactType.STRING, "application/json"),
    # text: rest of the line, or one "quoted string" that may hold operators and brackets
    ('[BODY] contains "[STATUS] == 200"', FactRef("BODY"), Op.CONTAINS, FactType.STRING,
     "[STATUS] == 200"),
    ('[BODY] contains "say \\"hi\\""', FactRef("BODY"), Op.CONTAINS, FactType.STRING, 'say "hi"'),
    ('[BODY] contains "status": "UP"', FactRef("BODY"), Op.CONTAINS, FactType.STRING,
     '"status": "UP"'),
    ("[BODY] == a  b ", FactRef("BODY"), Op.EQ, FactType.STRING, "a  b"),
    ('[BODY] == "PING\\n"', FactRef("BODY"), Op.EQ, FactType.STRING, "PING\n"),
    ('[BODY] == "PING\n"', FactRef("BODY"), Op.EQ, FactType.STRING, "PING\n"),  # YAML made it
    ('[TLS_VERSION] in ("TLS 1.2", TLS 1.3)', FactRef("TLS_VERSION"), Op.IN, FactType.STRING,
     OneOf(("TLS 1.2", "TLS 1.3"))),
    # JSON values for ANY
    ("[BODY.ok] == true", FactRef("BODY", "ok"), Op.EQ, FactType.ANY, True),
    ("[BODY.ok] == null", FactRef("BODY", "ok"), Op.EQ, FactType.ANY, None),
    ('[BODY.ok] == "true"', FactRef("BODY", "ok"), Op.EQ, FactType.ANY, "true"),
    ("[BODY.n] == 1e3", FactRef("BODY", "n"), Op.EQ, FactType.ANY, 1000.0),
    ("[BODY.n] == NaN", FactRef("BODY", "n"), Op.EQ, FactType.ANY, "NaN"),
    ("[BODY.s] == all UP", FactRef("BODY", "s"), Op.EQ, FactType.ANY, "all UP"),
    ("[BODY.l] == [1, 2]", FactRef("BODY", "l"), Op.EQ, FactType.ANY, [1, 2]),
    ('[BODY.n] in (1..10, UP, "x, y", 42, true)', FactRef("BODY", "n"), Op.IN, FactType.ANY,
     OneOf(("UP", "x, y", 42, True), (Range(1, 10),))),
]  # fmt: skip


@pytest.mark.parametrize(("text", "left", "op", "kind", "right"), GOOD)
def test_parses(text: str, left: FactRef, op: Op, kind: FactType, right: Any) -> None:
    comparison = compile_condition(text, FACTS).comparison
    assert (comparison.left, comparison.op, comparison.type) == (left, op, kind)
    assert comparison.right == right
    assert type(comparison.right) is type(right)


@pytest.mark.parametrize(
    ("text", "source"),
    [
        ("[BODY] matches ^(a|b) == c$", "^(a|b) == c$"),
        ('[BODY] matches "\\d+ ok"', "\\d+ ok"),
        ('[BODY] not matches "a\\"b"', 'a\\"b'),
        ("[BODY.v] matches ^2\\.", "^2\\."),
        ('[BODY] matches "a" or "b"', '"a" or "b"'),
    ],
)
def test_regexes_are_compiled_at_load(text: str, source: str) -> None:
    right = compile_condition(text, FACTS).comparison.right
    assert isinstance(right, Pattern)
    assert right.regex.pattern == source


def test_the_right_side_is_kept_as_written() -> None:
    comparison = compile_condition("[STATUS]  in (200,204 , 300..399) ", FACTS).comparison
    assert comparison == Comparison(
        FactRef("STATUS"), Op.IN, FactType.INT, OneOf((200, 204), (Range(300, 399),)),
        "(200,204 , 300..399)",
    )  # fmt: skip


BAD: list[tuple[str, str]] = [
    ("", "a condition cannot be empty; write one like [STATUS] == 200"),
    ("   ", "a condition cannot be empty; write one like [STATUS] == 200"),
    ("STATUS == 200",
     f"STATUS == 200: a condition starts with a placeholder in brackets; known: {KNOWN}"),
    ("[] == 1", f"[] == 1: expected a placeholder name after [; known: {KNOWN}"),
    ("[STAUTS] == 200",
     f"[STAUTS] == 200: unknown placeholder [STAUTS]; did you mean [STATUS]? known: {KNOWN}"),
    ("[status] == 200",
     f"[status] == 200: unknown placeholder [status]; did you mean [STATUS]? known: {KNOWN}"),
    ("[BOYD.status] == UP",
     f"[BOYD.status] == UP: unknown placeholder [BOYD]; did you mean [BODY]? known: {KNOWN}"),
    ("[TLS-VERSION] == 2",
     f"[TLS-VERSION] == 2: unknown placeholder [TLS-VERSION]; did you mean [TLS_VERSION]? known: "
     f"{KNOWN}"),
    ("[NOPE] == 2", f"[NOPE] == 2: unknown placeholder [NOPE]; known: {KNOWN}"),
    ("[STATUS.code] == 200",
     "[STATUS.code] == 200: [STATUS] takes no key (.code); keys work on [BODY.key], [HEADER.key], "
     "[BROKEN.key]"),
    ("[BODY.] == x", "[BODY.] == x: expected a key after [BODY., like [BODY.id]"),
    ("[BODY.items[0 == 1", "[BODY.items[0 == 1: expected ] to close [BODY.items[0 == 1"),
    ("[STATUS == 200", "[STATUS == 200: expected ] after [STATUS"),
    # operators
    ("[STATUS]", f"[STATUS]: expected an operator after [STATUS]: {INT_OPS}"),
    ("[STATUS] is 200", f"[STATUS] is 200: expected an operator after [STATUS]: {INT_OPS}"),
    ("[BODY] containsok", f"[BODY] containsok: expected an operator after [BODY]: {TEXT_OPS}"),
    ("[STATUS] = 200", "[STATUS] = 200: use == to compare, not ="),
    ("[STATUS] contains 200",
     f"[STATUS] contains 200: contains does not apply to [STATUS] (an integer); use {INT_OPS}"),
    ("[BODY] < 3", f"[BODY] < 3: < does not apply to [BODY] (text); use {TEXT_OPS}"),
    ("[RESPONSE_TIME] matches 1s",
     f"[RESPONSE_TIME] matches 1s: matches does not apply to [RESPONSE_TIME] (a duration); use "
     f"{INT_OPS}"),
    ("[STATUS] exists now", '[STATUS] exists now: unexpected "now" after exists'),
    # INT operands
    ("[STATUS] == abc", f"[STATUS] == abc: expected {INT_MANY}"),
    ("[STATUS] == 200.5", f"[STATUS] == 200.5: expected {INT_MANY}"),
    ("[STATUS] == 200 300", f"[STATUS] == 200 300: expected {INT_MANY}"),
    ("[STATUS] ==", f"[STATUS] ==: expected {INT_MANY} after =="),
    ("[STATUS] < abc", "[STATUS] < abc: expected an integer like 200"),
    ("[STATUS] < 200..299", "[STATUS] < 200..299: expected an integer like 200"),
    ("[STATUS] in 300..200",
     "[STATUS] in 300..200: 300..200 runs backwards: expected low..high, like 200..299"),
    ("[STATUS] in 200..", f"[STATUS] in 200..: expected {INT_MANY}"),
    ("[STATUS] in (200, abc)", f"[STATUS] in (200, abc): expected {INT_MANY}"),
    ("[STATUS] in ()", "[STATUS] in (): expected at least one value between ( and )"),
    ("[STATUS] in (200, , 204)", "[STATUS] in (200, , 204): empty value in the set"),
    ("[STATUS] in (200, 204", '[STATUS] in (200, 204: expected "," or ")" in the set'),
    ("[STATUS] in (200) 204", '[STATUS] in (200) 204: unexpected "204" after the set'),
    # DURATION and NUMBER operands
    ("[RESPONSE_TIME] < fast",
     "[RESPONSE_TIME] < fast: expected a duration like 300ms, 2s or 30d"),
    ("[RESPONSE_TIME] < 300", "[RESPONSE_TIME] < 300: expected a duration like 300ms, 2s or 30d"),
    ("[RESPONSE_TIME] in 2s..1s",
     "[RESPONSE_TIME] in 2s..1s: 2s..1s runs backwards: expected low..high, like 100ms..2s"),
    ("[CERT_EXPIRY] == soon",
     "[CERT_EXPIRY] == soon: expected a duration like 300ms, a range like 100ms..2s or a set like "
     "(1s, 2s)"),
    ("[RATIO] < half", "[RATIO] < half: expected a number like 0.5"),
    ("[RATIO] == 1..x",
     "[RATIO] == 1..x: expected a number, a range like 0.5..1.5 or a set like (1, 2.5)"),
    # STRING operands
    ("[BODY] matches (unclosed",
     "[BODY] matches (unclosed: invalid regex: missing ), unterminated subpattern at position 0"),
    ("[BODY] matches", "[BODY] matches: expected a regex after matches"),
    ("[BODY] ==", '[BODY] ==: expected text or a "quoted string" after =='),
    ('[BODY] == "bad \\q"',
     '[BODY] == "bad \\q": bad escape in a quoted string; write \\" for a quote, \\\\ for a '
     "backslash"),
    ("[TLS_VERSION] in TLS 1.3",
     '[TLS_VERSION] in TLS 1.3: expected a set like ("TLS 1.2", "TLS 1.3")'),
    # ANY operands
    ("[BODY.n] < many", "[BODY.n] < many: expected a number like 0.5"),
    ("[BODY.s] ==", "[BODY.s] ==: expected a value like UP, 42 or true after =="),
    ("[BODY.s] in UP",
     '[BODY.s] in UP: expected a range like 1..10 or a set like (UP, "DEGRADED")'),
    ("[BODY.n] in 10..1",
     "[BODY.n] in 10..1: 10..1 runs backwards: expected low..high, like 1..10"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BAD)
def test_rejects(text: str, message: str) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(text, FACTS)
    assert str(caught.value) == message


def test_error_carries_its_parts_and_survives_pickling() -> None:
    with pytest.raises(ValueError, match="did you mean") as caught:
        compile_condition("[STAUTS] == 200", FACTS)
    error = caught.value
    assert isinstance(error, ConditionError)
    assert error.condition == "[STAUTS] == 200"
    assert error.detail.startswith("unknown placeholder [STAUTS]")
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


def test_condition_text_is_kept_verbatim() -> None:
    condition = compile_condition("[STATUS]==200", FACTS)
    assert condition.text == "[STATUS]==200"
    assert condition.evaluate({"STATUS": 200}).text == "[STATUS]==200"
