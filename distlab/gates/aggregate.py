"""Aggregates over a metric's samples, and the rule for a bare condition.

The rule for a bare condition (no aggregate) on a metric with many samples:
**every sample must satisfy it.** So ``"< 50"`` is judged on the largest
sample, ``"> 0.8"`` on the smallest, and ``"== 1"``/``"!= 0"`` on the sample
farthest from / equal to the threshold. A single-valued metric (a pass rate,
an availability) is just that value. This is the strict reading: a latency
gate written without ``p(95)`` means "no request was slower than this".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from distlab.gates.expr import Condition, compare


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolating linearly between ranks."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def aggregate(name: str, samples: Sequence[float], q: float | None = None) -> float | None:
    """One aggregate over the samples; ``None`` when it has no value (no samples)."""
    if name == "count":
        return float(len(samples))
    if not samples:
        return None
    if name == "p":
        return percentile(samples, q if q is not None else 50.0)
    if name == "med":
        return percentile(samples, 50.0)
    if name == "avg":
        return math.fsum(samples) / len(samples)
    if name == "sum":
        return math.fsum(samples)
    if name == "min":
        return min(samples)
    if name == "max":
        return max(samples)
    if name == "rate":
        # k6's meaning: the share of samples that are non-zero (true).
        return sum(1 for s in samples if s != 0) / len(samples)
    raise ValueError(f"unknown aggregate {name!r}")


def bare_value(op: str, samples: Sequence[float], threshold: float) -> float | None:
    """The sample a bare condition is judged on: the one most likely to break it."""
    if not samples:
        return None
    if op in ("<", "<="):
        return max(samples)
    if op in (">", ">="):
        return min(samples)
    if op == "==":
        return max(samples, key=lambda s: abs(s - threshold))
    # "!=": a sample equal to the threshold breaks it, if there is one.
    return next((s for s in samples if not compare("!=", s, threshold)), samples[0])


def reference_value(condition: Condition, samples: Sequence[float]) -> float | None:
    """The baseline run's value for this condition's aggregate.

    For a bare condition the baseline is the worst sample in the comparison's
    direction (largest for < and <=, smallest for > and >=); for == and != it is
    the average, as "the baseline's value" of a multi-sample metric.
    """
    if condition.aggregate:
        return aggregate(condition.aggregate, samples, condition.percentile)
    if not samples:
        return None
    if condition.op in ("<", "<="):
        return max(samples)
    if condition.op in (">", ">="):
        return min(samples)
    return math.fsum(samples) / len(samples)


def observed_value(
    condition: Condition, samples: Sequence[float], threshold: float
) -> float | None:
    """The value a condition is judged on, given the threshold it is compared with."""
    if condition.aggregate:
        return aggregate(condition.aggregate, samples, condition.percentile)
    return bare_value(condition.op, samples, threshold)
