"""Success criteria of a scenario, and their verdicts with the observed value.

A criterion is a metric and a condition, ``availability >= 0.8``. Metrics:

- ``availability``: share of ops that completed ok, over the whole run;
- ``consistency``: 1 when the checker says valid, 0 invalid (unknown: no value, fails);
- ``error_rate``: share of ops the system answered with an error (``fail``); a
  timeout (``info``) counts against availability, not here, so "availability
  >= 0.7 and error_rate <= 0.05" means "up 70% of the time, and when it
  answered it rarely said no";
- ``recovery_s``: the slowest recovery after a heal (a window never recovered fails);
- ``p95_ms``: 95th percentile latency of ok and fail ops, all functions together.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from distlab.errors import UsageError

METRICS: dict[str, str] = {
    "availability": "share of ops that completed ok (0..1)",
    "consistency": "1 when the history checks valid, 0 when invalid",
    "error_rate": "share of ops answered with an error, fail (0..1)",
    "recovery_s": "seconds from a heal to sustained success, the slowest window",
    "p95_ms": "95th percentile latency in ms over ok and fail ops",
}

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_CONDITION = re.compile(r"^\s*(>=|<=|==|>|<)\s*([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Criterion:
    """``metric op threshold``, e.g. availability >= 0.8."""

    metric: str
    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"

    def judge(self, observed: float | None) -> CriterionVerdict:
        passed = (
            observed is not None
            and math.isfinite(observed)
            and _OPS[self.op](observed, self.threshold)
        )
        return CriterionVerdict(self, observed, bool(passed))


@dataclass(frozen=True)
class CriterionVerdict:
    """A criterion, what was observed, and whether it held."""

    criterion: Criterion
    observed: float | None
    passed: bool

    def __str__(self) -> str:
        seen = "none" if self.observed is None else f"{self.observed:.4g}"
        return f"{'pass' if self.passed else 'FAIL'}: {self.criterion} (observed {seen})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.criterion.metric,
            "condition": f"{self.criterion.op} {self.criterion.threshold:g}",
            "observed": self.observed,
            "passed": self.passed,
        }


def parse_criterion(metric: Any, condition: Any) -> Criterion:
    """``parse_criterion("availability", ">= 0.8")``; a UsageError names what is allowed."""
    if metric not in METRICS:
        raise UsageError(f"unknown criterion metric {metric!r}; allowed: {', '.join(METRICS)}")
    if isinstance(condition, bool) or not isinstance(condition, str | int | float):
        raise UsageError(
            f'criterion {metric}: condition must be a string such as ">= 0.8", got {condition!r}'
        )
    if isinstance(condition, int | float):
        condition = f"== {condition}"
    m = _CONDITION.match(condition)
    if not m:
        raise UsageError(
            f'criterion {metric}: {condition!r} is not a condition; write "OP NUMBER" with OP one of '
            + " ".join(_OPS)
        )
    return Criterion(metric, m.group(1), float(m.group(2)))


def parse_criteria(table: Any) -> list[Criterion]:
    """Criteria from a table ``{metric: condition}``."""
    if not isinstance(table, dict):
        raise UsageError(
            f'criteria must be a table such as {{availability = ">= 0.8"}}, got {table!r}'
        )
    return [parse_criterion(k, v) for k, v in table.items()]
