"""The scrape expression language: what parses, what it computes, and what it refuses."""

from __future__ import annotations

import pytest

from agent.probers.scrape_expr import (
    EvaluationError,
    ExpressionError,
    Index,
    evaluate,
    metrics_of,
    parse,
)

INDEX: Index = {
    "pool_connections": [
        ({"pool": "db", "state": "in_use"}, 12.0),
        ({"pool": "db", "state": "idle"}, 8.0),
        ({"pool": "cache", "state": "in_use"}, 3.0),
    ],
    "pool_max": [({"pool": "db"}, 20.0), ({"pool": "cache"}, 10.0)],
    "queue_depth": [({"queue": "payments"}, 40.0)],
    "queue_limit": [({"queue": "payments"}, 0.0)],
    "odd:name_total": [({}, 7.0)],
    "broken": [({}, float("nan"))],
}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42.0),
        ("1.5e3", 1500.0),
        ("-3 + 5", 2.0),
        ("2 * 3 + 4", 10.0),
        ("2 * (3 + 4)", 14.0),
        ("10 - 4 - 3", 3.0),  # left-associative
        ("12 / 4 / 3", 1.0),
        ("--2", 2.0),
        ("queue_depth", 40.0),
        ("odd:name_total", 7.0),
        ('pool_connections{pool="db", state="in_use"} / pool_max{pool="db"}', 0.6),
        ("pool_connections{pool='db',state='in_use',}", 12.0),  # single quotes, trailing comma
        ('sum(pool_connections{pool="db"})', 20.0),
        ('max(pool_connections{state!="idle"})', 12.0),
        ('min(pool_connections{pool=~"d.*"})', 8.0),
        ('count(pool_connections{pool!~"db|cache"})', 0.0),
        ("avg(pool_max)", 15.0),
        ('sum(pool_connections{state="in_use"}) / sum(pool_max)', 0.5),
        ('pool_connections{pool=~"ca.+", state="in_use"}', 3.0),
        ('pool_connections{pool=~"d", state="in_use"}', None),  # anchored: "d" is not "db"
    ],
)
def test_values(text: str, value: float | None) -> None:
    expression = parse(text)
    if value is None:
        with pytest.raises(EvaluationError, match="no series"):
            evaluate(expression, INDEX)
    else:
        assert evaluate(expression, INDEX) == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pool_max", "pool_max matches 2 series; add label matchers or use sum(), max(), min()"),
        ('pool_max{pool="nope"}', 'no series pool_max{pool="nope"}'),
        ("missing_metric * 2", "no series missing_metric"),
        ("sum(missing_metric)", "no series missing_metric"),
        ("queue_depth / queue_limit", "division by zero: queue_limit is 0"),
        ("broken", "broken is not a number (NaN)"),
    ],
)
def test_what_the_scrape_lacks(text: str, message: str) -> None:
    with pytest.raises(EvaluationError) as caught:
        evaluate(parse(text), INDEX)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a number, a series or (, found the end"),
        ("1 +", "expected a number, a series or (, found the end"),
        ("(1 + 2", "expected ), found the end"),
        ("1 2", "expected an operator (+ - * /) or the end, found '2' at column 3"),
        ("a{b}", "expected =, !=, =~ or !~ after b, found '}' at column 4"),
        ('a{b="x" c="y"}', "expected , or }, found 'c' at column 9"),
        ("a{b=x}", "expected a \"quoted\" value after b=, found 'x' at column 5"),
        ('a{b=~"("}', "bad regex '(' for b"),
        ("__import__('os').system('x')", "unexpected '.' at column 17"),
        ("a ** 2", "expected a number, a series or (, found '*' at column 4"),
        ("a % 2", "unexpected '%' at column 3"),
        ("sum(1 + 2)", "expected a series name, found '1' at column 5"),
        ("sum(a, b)", "sum() takes one series selector; expected ), found ','"),
        ("(" * 40 + "1" + ")" * 40, "nested more than 32 deep"),
        ("1" + " + 1" * 300, "an expression is at most 1000 characters"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert str(caught.value).startswith(message)


def test_metrics_and_text() -> None:
    expression = parse('sum(a{x="1"}) / (b - -c{y=~"z\\\\d"})')
    assert metrics_of(expression) == {"a", "b", "c"}
    assert str(expression) == '(sum(a{x="1"}) / (b - -c{y=~"z\\\\d"}))'
    assert parse(str(expression)) == expression  # the printed form reads back the same
