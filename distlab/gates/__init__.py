"""Release gates: parse threshold conditions (never ``eval``) and judge runs.

::

    from distlab.gates import parse_condition, evaluate, metrics_of
    parse_condition("p(95) < 50")            # Condition, or ConditionError
    metrics_of(run)                          # {"unit.pass_rate": [1.0], ...}
    evaluate(config.gates, run, baseline)    # [GateVerdict, ...]
"""

from __future__ import annotations

from distlab.gates.evaluate import aborting, evaluate, layer_of, status
from distlab.gates.expr import Condition, ConditionError, parse_condition
from distlab.gates.metrics import MetricRef, builtin_metrics, metrics_of, parse_metric

__all__ = [
    "Condition",
    "ConditionError",
    "MetricRef",
    "aborting",
    "builtin_metrics",
    "evaluate",
    "layer_of",
    "metrics_of",
    "parse_condition",
    "parse_metric",
    "status",
]
