"""The gate condition language: a hand-written tokenizer and parser.

A condition is what stands on the right of a gate in ``config.toml``::

    "< 50"                      every sample below 50
    "p(95) <= 200"              the 95th percentile at most 200
    "avg < baseline * 1.10"     within 10% of the last passing run's average
    ">= baseline - 5"

Grammar (whitespace is free)::

    condition := [aggregate] compare expr
    aggregate := "p" "(" number ")" | "avg" | "min" | "max" | "med" | "sum"
               | "rate" | "count"
    compare   := "<" | "<=" | ">" | ">=" | "==" | "!="
    expr      := term (("+" | "-") term)*
    term      := unary (("*" | "/") unary)*
    unary     := "-" unary | atom
    atom      := number | "baseline" | "(" expr ")"

Parsed into a small tree and evaluated by walking it: nothing here is ever
``eval``'d, and any bad input is a ``ConditionError`` with a one-line reason.

Scenario success criteria (``distlab.nemesis.criteria``) are written in this
language too, so ``== 1`` means the same in a gate and in a scenario.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from distlab.errors import UsageError

COMPARATORS = ("<=", ">=", "==", "!=", "<", ">")
AGGREGATES = ("p", "avg", "min", "max", "med", "sum", "rate", "count")
EXAMPLES = "e.g. '< 50', 'p(95) <= 200', 'avg <= baseline * 1.10'"

# Longer than any sane condition; keeps error messages and recursion bounded.
MAX_LENGTH = 200
MAX_DEPTH = 16


class ConditionError(UsageError):
    """A condition that does not parse, or a threshold with no value (x/0, no baseline).

    The one error of the condition language, in gates and scenario criteria alike.
    """


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<compare><=|>=|==|!=|<|>)
  | (?P<punct>[-+*/()])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # number | name | compare | punct | end
    text: str
    column: int  # 1-based, for error messages


def tokenize(text: str) -> list[Token]:
    """Split a condition into tokens; an unknown character is a ``ConditionError``."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            hint = "comparisons are < <= > >= == !=" if text[pos] in "=!" else EXAMPLES
            raise ConditionError(
                f"condition {_show(text)}: unexpected {text[pos]!r} at column {pos + 1}; {hint}"
            )
        kind = m.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, m.group(), pos + 1))
        pos = m.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


# --- the expression tree on the right of the comparison -------------------


@dataclass(frozen=True)
class Num:
    value: float

    def __str__(self) -> str:
        return _fmt(self.value)


@dataclass(frozen=True)
class Baseline:
    def __str__(self) -> str:
        return "baseline"


@dataclass(frozen=True)
class Neg:
    operand: Expr

    def __str__(self) -> str:
        inner = f"({self.operand})" if isinstance(self.operand, BinOp) else str(self.operand)
        return f"-{inner}"


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Expr
    right: Expr

    def __str__(self) -> str:
        return f"{_wrap(self.left, self.op, False)} {self.op} {_wrap(self.right, self.op, True)}"


Expr = Num | Baseline | Neg | BinOp


def _wrap(node: Expr, parent_op: str, right: bool) -> str:
    """Parenthesise a child where precedence or left-to-right grouping needs it,
    so that printing and parsing again gives the very same tree."""
    if isinstance(node, BinOp):
        strength = {"+": 1, "-": 1, "*": 2, "/": 2}
        if strength[node.op] < strength[parent_op] or (
            right and strength[node.op] == strength[parent_op]
        ):
            return f"({node})"
    return str(node)


def uses_baseline(node: Expr) -> bool:
    """Whether the expression refers to the baseline run."""
    if isinstance(node, Baseline):
        return True
    if isinstance(node, Neg):
        return uses_baseline(node.operand)
    if isinstance(node, BinOp):
        return uses_baseline(node.left) or uses_baseline(node.right)
    return False


def compute(node: Expr, baseline: float | None = None) -> float:
    """The value of the expression; ``ConditionError`` if it has none (x/0, no baseline)."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Baseline):
        if baseline is None:
            raise ConditionError("the condition needs a baseline value")
        return baseline
    if isinstance(node, Neg):
        return -compute(node.operand, baseline)
    left, right = compute(node.left, baseline), compute(node.right, baseline)
    if node.op == "+":
        value = left + right
    elif node.op == "-":
        value = left - right
    elif node.op == "*":
        value = left * right
    else:
        if right == 0:
            raise ConditionError(f"division by zero in {node}")
        value = left / right
    if not math.isfinite(value):
        raise ConditionError(f"{node} is not a finite number")
    return value


# --- the condition --------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A parsed condition: an optional aggregate, a comparison, a threshold expression."""

    text: str
    aggregate: str | None  # None: a bare condition (see distlab.gates.aggregate)
    percentile: float | None  # for aggregate "p"
    op: str
    threshold: Expr

    @property
    def uses_baseline(self) -> bool:
        return uses_baseline(self.threshold)

    @property
    def aggregate_label(self) -> str:
        """How the aggregate is written, e.g. ``p(95)``; empty for a bare condition."""
        if self.aggregate == "p":
            return f"p({_fmt(self.percentile or 0.0)})"
        return self.aggregate or ""

    def __str__(self) -> str:
        head = f"{self.aggregate_label} " if self.aggregate else ""
        return f"{head}{self.op} {self.threshold}"


def compare(op: str, observed: float, threshold: float) -> bool:
    """Apply a comparison operator.

    ``==`` and ``!=`` allow a relative difference of 1e-9: an observed figure is
    computed in floating point, and ``0.1 * 10`` must count as ``== 1``.
    """
    if op == "<":
        return observed < threshold
    if op == "<=":
        return observed <= threshold
    if op == ">":
        return observed > threshold
    if op == ">=":
        return observed >= threshold
    if op == "==":
        return math.isclose(observed, threshold, rel_tol=1e-9, abs_tol=1e-12)
    if op == "!=":
        return not math.isclose(observed, threshold, rel_tol=1e-9, abs_tol=1e-12)
    raise ConditionError(f"unknown comparison {op!r}; allowed: {' '.join(COMPARATORS)}")


def parse_condition(text: str) -> Condition:
    """Parse one gate condition such as ``"p(95) < 50"``; ``ConditionError`` on bad input."""
    if not isinstance(text, str):
        raise ConditionError(f"a condition must be a string such as '< 50', got {text!r}")
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"condition is {len(text)} characters long; at most {MAX_LENGTH}")
    if not text.strip():
        raise ConditionError(f"condition is empty; {EXAMPLES}")
    return _Parser(text).condition()


class _Parser:
    """Recursive descent over the token list; one instance per condition."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.depth = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind != "end":
            self.pos += 1
        return token

    def fail(self, what: str, token: Token | None = None) -> ConditionError:
        token = token or self.peek
        found = "the end" if token.kind == "end" else repr(token.text)
        return ConditionError(
            f"condition {_show(self.text)}: expected {what}, found {found} "
            f"at column {token.column}; {EXAMPLES}"
        )

    def condition(self) -> Condition:
        aggregate, percentile = self.aggregate()
        if self.peek.kind != "compare":
            raise self.fail("a comparison (< <= > >= == !=)")
        op = self.take().text
        threshold = self.expr()
        if self.peek.kind != "end":
            raise self.fail("the end of the condition")
        if not uses_baseline(threshold):
            try:
                compute(threshold)
            except ConditionError as e:
                raise ConditionError(f"condition {_show(self.text)}: {e}") from None
        return Condition(self.text, aggregate, percentile, op, threshold)

    def aggregate(self) -> tuple[str | None, float | None]:
        token = self.peek
        if token.kind != "name":
            return None, None
        name = token.text.lower()
        if name not in AGGREGATES:
            raise ConditionError(
                f"condition {_show(self.text)}: unknown aggregate {token.text!r} at column "
                f"{token.column}; allowed: p(N), {', '.join(AGGREGATES[1:])}"
            )
        self.take()
        if name != "p":
            return name, None
        self.expect("(", "'(' after p, as in p(95)")
        if self.peek.kind != "number":
            raise self.fail("a percentile from 0 to 100, as in p(95)")
        number = self.take()
        value = float(number.text)
        if not 0 <= value <= 100:
            raise ConditionError(
                f"condition {_show(self.text)}: percentile must be from 0 to 100, got {number.text}"
            )
        self.expect(")", "')' to close p(")
        return "p", value

    def expect(self, punct: str, what: str) -> None:
        if self.peek.kind != "punct" or self.peek.text != punct:
            raise self.fail(what)
        self.take()

    def expr(self) -> Expr:
        node = self.term()
        while self.peek.text in ("+", "-") and self.peek.kind == "punct":
            op = self.take().text
            node = BinOp(op, node, self.term())
        return node

    def term(self) -> Expr:
        node = self.unary()
        while self.peek.text in ("*", "/") and self.peek.kind == "punct":
            op = self.take().text
            node = BinOp(op, node, self.unary())
        return node

    def unary(self) -> Expr:
        if self.peek.text == "-" and self.peek.kind == "punct":
            self.take()
            return Neg(self.nested(self.unary))
        return self.atom()

    def nested(self, rule: Callable[[], Expr]) -> Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConditionError(f"condition {_show(self.text)}: nested deeper than {MAX_DEPTH}")
        try:
            return rule()
        finally:
            self.depth -= 1

    def atom(self) -> Expr:
        token = self.take()
        if token.kind == "number":
            value = float(token.text)
            if not math.isfinite(value):
                raise ConditionError(f"condition {_show(self.text)}: {token.text} is too large")
            return Num(value)
        if token.kind == "name" and token.text.lower() == "baseline":
            return Baseline()
        if token.kind == "punct" and token.text == "(":
            node = self.nested(self.expr)
            self.expect(")", "')'")
            return node
        if token.kind == "name":
            raise ConditionError(
                f"condition {_show(self.text)}: unknown name {token.text!r} at column "
                f"{token.column}; a threshold is a number or uses 'baseline'"
            )
        raise self.fail("a number or 'baseline'", token)


def _fmt(value: float) -> str:
    """A number as a person would write it: 50, 1.1, 0.001."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _show(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")
