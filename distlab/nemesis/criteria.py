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

A condition is written in the gates' language (``distlab.gates.expr``) and
compared the same way: ``== 1`` holds within a relative 1e-9 in a gate and in
a criterion alike, and ``!=`` exists in both. A criterion judges one observed
value of one run, so an aggregate (``p(95)``, ``avg``) or ``baseline`` is
refused with a one-line error naming the criterion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from distlab.errors import UsageError
from distlab.gates.expr import Condition, ConditionError, compare, compute, parse_condition

METRICS: dict[str, str] = {
    "availability": "share of ops that completed ok (0..1)",
    "consistency": "1 when the history checks valid, 0 when invalid",
    "error_rate": "share of ops answered with an error, fail (0..1)",
    "recovery_s": "seconds from a heal to sustained success, the slowest window",
    "p95_ms": "95th percentile latency in ms over ok and fail ops",
}


@dataclass(frozen=True)
class Criterion:
    """A metric and a condition, e.g. availability >= 0.8."""

    metric: str
    condition: Condition

    @property
    def threshold(self) -> float:
        # parse_criterion refused baselines and checked the value, so this cannot fail.
        return compute(self.condition.threshold)

    def __str__(self) -> str:
        return f"{self.metric} {self.condition}"

    def judge(self, observed: float | None) -> CriterionVerdict:
        passed = (
            observed is not None
            and math.isfinite(observed)
            and compare(self.condition.op, observed, self.threshold)
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
            "condition": str(self.criterion.condition),
            "observed": self.observed,
            "passed": self.passed,
        }


def parse_criterion(metric: Any, condition: Any) -> Criterion:
    """``parse_criterion("availability", ">= 0.8")``; a bare number means ``== number``.

    An unknown metric is a ``UsageError``; a bad condition a ``ConditionError``
    (the gates' error, itself a ``UsageError``) starting ``criterion <metric>:``.
    """
    if metric not in METRICS:
        raise UsageError(f"unknown criterion metric {metric!r}; allowed: {', '.join(METRICS)}")
    if isinstance(condition, bool) or not isinstance(condition, str | int | float):
        raise ConditionError(
            f'criterion {metric}: condition must be a string such as ">= 0.8", got {condition!r}'
        )
    text = condition if isinstance(condition, str) else f"== {condition!r}"
    try:
        parsed = parse_condition(text)
    except ConditionError as e:
        raise ConditionError(f"criterion {metric}: {e}") from None
    if parsed.uses_baseline:
        raise ConditionError(
            f"criterion {metric}: {text!r} uses baseline; a scenario has no baseline run, "
            "give a number"
        )
    if parsed.aggregate:
        raise ConditionError(
            f"criterion {metric}: {text!r} uses the aggregate {parsed.aggregate_label}; "
            f'a criterion judges one observed value, write e.g. "{parsed.op} {parsed.threshold}"'
        )
    return Criterion(metric, parsed)


def parse_criteria(table: Any) -> list[Criterion]:
    """Criteria from a table ``{metric: condition}``."""
    if not isinstance(table, dict):
        raise UsageError(
            f'criteria must be a table such as {{availability = ">= 0.8"}}, got {table!r}'
        )
    return [parse_criterion(k, v) for k, v in table.items()]
