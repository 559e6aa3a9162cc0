"""CloudWatch metric math, as much of it as the stack's alarms use, evaluated one datapoint at a time.

The estimate evaluates the very expression strings the alarms are built from
(`synthesis/alarm_expressions.py`), so a changed FILL or IF changes the estimate as it changes the
deployment. Semantics, from CloudWatch User Guide, "Using metric math"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html):

- arithmetic (+ - * / ^): "Missing values in a time series are treated as 0"; a datapoint exists where
  either time series has one (a scalar with a time series: where the time series has one); a division
  by zero drops the datapoint;
- comparison and logical operators give 1 or 0; between two time series "the function treats the
  missing value in the other time series as 0";
- FILL(ts, value) replaces every missing value, FILL(ts, REPEAT) with the most recent actual value
  before it (so an alarm's newest minute has a value even before its metric landed);
- IF(condition, a, b): a where the condition is non-zero (0 where a time series `a` has no value),
  b where it is 0; a datapoint whose condition has no value is dropped, and so is one where the
  condition is 0 and `b` is missing or omitted.

`None` is "no datapoint". Only what the stack's expressions need is parsed: numbers, metric ids,
unary minus, + - * / ^, == != < <= > >=, AND / && / OR / ||, parentheses, FILL and IF.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Value = float | None
Metrics = Callable[[str, int], Value]
"""(metric id, minute) -> the metric's value for that minute, None when it has no datapoint."""

REPEAT_LOOKBACK = 60
"""Minutes FILL(x, REPEAT) looks back for an actual value (an alarm fetches more minutes than it evaluates)."""

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>&&|\|\||[=!<>]=|[-+*/^<>(),]))"
)
_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_LOGIC = {"AND": lambda a, b: a != 0 and b != 0, "OR": lambda a, b: a != 0 or b != 0}
_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "^": lambda a, b: a**b,
}


class MetricMathError(ValueError):
    """An expression this evaluator cannot parse (one of the stack's own strings: a bug, not user input)."""


class Node:
    series = True
    """A time series (may lack a datapoint) rather than a scalar (always has its value)."""

    def at(self, minute: int, metrics: Metrics) -> Value:
        raise NotImplementedError


@dataclass(frozen=True)
class Number(Node):
    value: float
    series = False

    def at(self, minute: int, metrics: Metrics) -> Value:
        return self.value


@dataclass(frozen=True)
class Metric(Node):
    id: str

    def at(self, minute: int, metrics: Metrics) -> Value:
        return metrics(self.id, minute)


@dataclass(frozen=True)
class Negative(Node):
    operand: Node

    @property
    def series(self) -> bool:  # type: ignore[override]
        return self.operand.series

    def at(self, minute: int, metrics: Metrics) -> Value:
        value = self.operand.at(minute, metrics)
        return None if value is None else -value


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node

    @property
    def series(self) -> bool:  # type: ignore[override]
        return self.left.series or self.right.series

    def at(self, minute: int, metrics: Metrics) -> Value:
        a, b = self.left.at(minute, metrics), self.right.at(minute, metrics)
        if a is None and b is None:
            return None
        if (a is None and not self.right.series) or (b is None and not self.left.series):
            return None  # a scalar with a missing datapoint: no datapoint
        a, b = a or 0.0, b or 0.0  # between two time series, a missing value is 0
        if self.op in _COMPARE:
            return float(_COMPARE[self.op](a, b))
        if self.op in _LOGIC:
            return float(_LOGIC[self.op](a, b))
        if self.op == "/" and b == 0:
            return None  # "the data point is dropped"
        return _ARITHMETIC[self.op](a, b)


@dataclass(frozen=True)
class Fill(Node):
    operand: Node
    filler: Node | None
    """None: REPEAT."""

    def at(self, minute: int, metrics: Metrics) -> Value:
        value = self.operand.at(minute, metrics)
        if value is not None:
            return value
        if self.filler is not None:
            return self.filler.at(minute, metrics)
        for earlier in range(minute - 1, minute - REPEAT_LOOKBACK - 1, -1):
            value = self.operand.at(earlier, metrics)
            if value is not None:
                return value
        return None


@dataclass(frozen=True)
class If(Node):
    condition: Node
    then: Node
    otherwise: Node | None

    def at(self, minute: int, metrics: Metrics) -> Value:
        condition = self.condition.at(minute, metrics)
        if condition is None:
            return None
        if condition != 0:
            value = self.then.at(minute, metrics)
            return 0.0 if value is None else value
        return None if self.otherwise is None else self.otherwise.at(minute, metrics)


@dataclass(frozen=True)
class Expression:
    text: str
    root: Node

    def at(self, minute: int, metrics: Metrics) -> Value:
        """The expression's datapoint for `minute` (None: no datapoint)."""
        return self.root.at(minute, metrics)


_LEVELS: tuple[tuple[str, ...], ...] = (("OR", "||"), ("AND", "&&"), tuple(_COMPARE), ("+", "-"), ("*", "/"), ("^",))
_ALIASES = {"||": "OR", "&&": "AND"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._tokenize(text)
        self.i = 0

    @staticmethod
    def _tokenize(text: str) -> list[str]:
        tokens, pos = [], 0
        while pos < len(text.rstrip()):
            match = _TOKEN.match(text, pos)
            if not match:
                raise MetricMathError(f"{text!r}: cannot read from {text[pos:]!r}")
            tokens.append(match.group(match.lastgroup or ""))
            pos = match.end()
        return tokens

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise MetricMathError(f"{self.text!r}: expected {expected or 'more'} at token {self.i + 1}")
        self.i += 1
        return token

    def expression(self, level: int = 0) -> Node:
        if level == len(_LEVELS):
            return self.unary()
        node = self.expression(level + 1)
        while self.peek() in _LEVELS[level]:
            op = self.take()
            node = Binary(_ALIASES.get(op, op), node, self.expression(level + 1))
        return node

    def unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            return Negative(self.unary())
        return self.primary()

    def primary(self) -> Node:
        token = self.take()
        if token == "(":
            node = self.expression()
            self.take(")")
            return node
        if token[0].isdigit():
            return Number(float(token))
        if token in ("FILL", "IF"):
            return self.call(token)
        if token[0].islower():
            return Metric(token)
        raise MetricMathError(f"{self.text!r}: unexpected {token!r}")

    def call(self, name: str) -> Node:
        self.take("(")
        args: list[Node | None] = [self.expression()]
        while self.peek() == ",":
            self.take()
            if name == "FILL" and self.peek() == "REPEAT":
                self.take()
                args.append(None)
            else:
                args.append(self.expression())
        self.take(")")
        first = args[0]
        assert first is not None  # the first argument is always an expression
        if name == "FILL" and len(args) == 2:
            return Fill(first, args[1])
        if name == "IF" and len(args) in (2, 3) and args[1] is not None:
            return If(first, args[1], args[2] if len(args) == 3 else None)
        raise MetricMathError(f"{self.text!r}: {name} takes {'2' if name == 'FILL' else '2 or 3'} arguments")


def parse(text: str) -> Expression:
    parser = _Parser(text)
    root = parser.expression()
    if parser.peek() is not None:
        raise MetricMathError(f"{text!r}: unexpected {parser.peek()!r} at token {parser.i + 1}")
    return Expression(text, root)
