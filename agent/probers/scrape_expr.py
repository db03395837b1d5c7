"""A small, safe arithmetic over scraped series: ``db_pool_in_use{pool="main"} / db_pool_max``.

Grammar (parsed once, at load; nothing is ever passed to ``eval``)::

    expr     := term (("+" | "-") term)*
    term     := unary (("*" | "/") unary)*
    unary    := "-" unary | atom
    atom     := NUMBER | "(" expr ")" | AGG "(" selector ")" | selector
    selector := METRIC ("{" matcher ("," matcher)* ","? "}")?
    matcher  := LABEL ("=" | "!=" | "=~" | "!~") STRING
    AGG      := sum | min | max | avg | count

A bare selector must match exactly one series (an ambiguous one is an error, never a guess);
the aggregations fold several (``count`` of none is 0). Regexes are anchored, as in PromQL.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

MAX_LENGTH = 1000
MAX_DEPTH = 32

Labels = Mapping[str, str]
Index = Mapping[str, Sequence[tuple[Labels, float]]]  # metric name -> its series


class ExpressionError(ValueError):
    """The text is not an expression; the message points at the place."""


class EvaluationError(Exception):
    """The scrape lacks what the expression needs (a missing or ambiguous series, a 0 divisor)."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<op>=~|!=|!~|[=,{}()+\-*/])
    )""",
    re.VERBOSE,
)
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True, slots=True)
class Matcher:
    label: str
    op: str  # = != =~ !~
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Labels) -> bool:
        actual = labels.get(self.label, "")
        if self.regex is not None:
            return (self.regex.fullmatch(actual) is not None) == (self.op == "=~")
        return (actual == self.value) == (self.op == "=")

    def __str__(self) -> str:
        return f"{self.label}{self.op}{_quote(self.value)}"


@dataclass(frozen=True, slots=True)
class Selector:
    metric: str
    matchers: tuple[Matcher, ...] = ()

    def select(self, index: Index) -> list[float]:
        return [v for labels, v in index.get(self.metric, ()) if self._all(labels)]

    def _all(self, labels: Labels) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def evaluate(self, index: Index) -> float:
        values = self.select(index)
        if not values:
            raise EvaluationError(f"no series {self}")
        if len(values) > 1:
            raise EvaluationError(
                f"{self} matches {len(values)} series; add label matchers or use sum(), "
                "max(), min(), avg() or count()"
            )
        return values[0]

    def __str__(self) -> str:
        inner = ", ".join(str(m) for m in self.matchers)
        return f"{self.metric}{{{inner}}}" if inner else self.metric


_AGGREGATIONS: dict[str, Callable[[list[float]], float]] = {
    "sum": math.fsum,
    "min": min,
    "max": max,
    "avg": lambda values: math.fsum(values) / len(values),
    "count": len,
}


@dataclass(frozen=True, slots=True)
class Aggregate:
    function: str
    selector: Selector

    def evaluate(self, index: Index) -> float:
        values = self.selector.select(index)
        if not values and self.function != "count":
            raise EvaluationError(f"no series {self.selector}")
        return float(_AGGREGATIONS[self.function](values))

    def __str__(self) -> str:
        return f"{self.function}({self.selector})"


@dataclass(frozen=True, slots=True)
class Number:
    value: float

    def evaluate(self, index: Index) -> float:
        return self.value

    def __str__(self) -> str:
        return f"{self.value:g}"


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Expression

    def evaluate(self, index: Index) -> float:
        return -self.operand.evaluate(index)

    def __str__(self) -> str:
        return f"-{self.operand}"


_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Expression
    right: Expression

    def evaluate(self, index: Index) -> float:
        left, right = self.left.evaluate(index), self.right.evaluate(index)
        if self.op == "/" and right == 0:
            raise EvaluationError(f"division by zero: {self.right} is 0")
        return _OPERATORS[self.op](left, right)

    def __str__(self) -> str:
        return f"({self.left} {self.op} {self.right})"


Expression = Number | Selector | Aggregate | Negate | Binary


def metrics_of(expression: Expression) -> frozenset[str]:
    """Every metric name the expression reads (so a scrape indexes only those)."""
    if isinstance(expression, Selector):
        return frozenset({expression.metric})
    if isinstance(expression, Aggregate):
        return frozenset({expression.selector.metric})
    if isinstance(expression, Negate):
        return metrics_of(expression.operand)
    if isinstance(expression, Binary):
        return metrics_of(expression.left) | metrics_of(expression.right)
    return frozenset()


def evaluate(expression: Expression, index: Index) -> float:
    """The expression's value; ``EvaluationError`` when it has none (including NaN)."""
    value = expression.evaluate(index)
    if math.isnan(value):
        raise EvaluationError(f"{expression} is not a number (NaN)")
    return value


def parse(text: str) -> Expression:
    """Compile ``text``; ``ExpressionError`` says what was expected where."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"an expression is at most {MAX_LENGTH} characters")
    parser = _Parser(text, list(_tokens(text)))
    expression = parser.expr(0)
    if parser.pos < len(parser.tokens):
        raise parser.error("expected an operator (+ - * /) or the end")
    return expression


def _tokens(text: str) -> Iterable[tuple[str, str, int]]:
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            return
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            where = len(text[:pos]) + len(text[pos:]) - len(text[pos:].lstrip())
            raise ExpressionError(f"unexpected {text[where]!r} at column {where + 1}")
        yield match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup)
        pos = match.end()


class _Parser:
    def __init__(self, text: str, tokens: list[tuple[str, str, int]]) -> None:
        self.text, self.tokens, self.pos = text, tokens, 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, *values: str) -> str | None:
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in values:
            self.pos += 1
            return token[1]
        return None

    def error(self, expected: str) -> ExpressionError:
        token = self.peek()
        if token is None:
            return ExpressionError(f"{expected}, found the end")
        return ExpressionError(f"{expected}, found {token[1]!r} at column {token[2] + 1}")

    def expr(self, depth: int) -> Expression:
        if depth > MAX_DEPTH:
            raise ExpressionError(f"nested more than {MAX_DEPTH} deep")
        node = self.term(depth)
        while (op := self.take("+", "-")) is not None:
            node = Binary(op, node, self.term(depth))
        return node

    def term(self, depth: int) -> Expression:
        node = self.unary(depth)
        while (op := self.take("*", "/")) is not None:
            node = Binary(op, node, self.unary(depth))
        return node

    def unary(self, depth: int) -> Expression:
        if self.take("-") is not None:
            return Negate(self.unary(depth + 1))
        return self.atom(depth)

    def atom(self, depth: int) -> Expression:
        token = self.peek()
        if token is None:
            raise self.error("expected a number, a series or (")
        kind, value, _ = token
        if kind == "number":
            self.pos += 1
            return Number(float(value))
        if self.take("(") is not None:
            inner = self.expr(depth + 1)
            if self.take(")") is None:
                raise self.error("expected )")
            return inner
        if kind != "name":
            raise self.error("expected a number, a series or (")
        self.pos += 1
        if value in _AGGREGATIONS and self.take("(") is not None:
            selector = self.selector()
            if self.take(")") is None:
                raise self.error(f"{value}() takes one series selector; expected )")
            return Aggregate(value, selector)
        return self.selector(value)

    def selector(self, metric: str | None = None) -> Selector:
        if metric is None:
            token = self.peek()
            if token is None or token[0] != "name":
                raise self.error("expected a series name")
            metric = token[1]
            self.pos += 1
        matchers: list[Matcher] = []
        if self.take("{") is None:
            return Selector(metric)
        while self.take("}") is None:
            matchers.append(self.matcher())
            if self.take(",") is None:
                if self.take("}") is None:
                    raise self.error("expected , or }")
                break
        return Selector(metric, tuple(matchers))

    def matcher(self) -> Matcher:
        token = self.peek()
        if token is None or token[0] != "name" or not _LABEL.fullmatch(token[1]):
            raise self.error("expected a label name")
        self.pos += 1
        op = self.take("=", "!=", "=~", "!~")
        if op is None:
            raise self.error(f"expected =, !=, =~ or !~ after {token[1]}")
        quoted = self.peek()
        if quoted is None or quoted[0] != "string":
            raise self.error(f'expected a "quoted" value after {token[1]}{op}')
        self.pos += 1
        value = _unquote(quoted[1])
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = re.compile(value)
            except re.error as exc:
                raise ExpressionError(f"bad regex {value!r} for {token[1]}: {exc}") from None
        return Matcher(token[1], op, value, regex)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), text[1:-1])


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
