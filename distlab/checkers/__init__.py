"""Checkers: judge a recorded history. They never talk to a node.

- ``history.load`` / ``history.parse_lines`` / ``history.from_records``: read and validate;
- ``check_linearizable(history, model, budget_s=...)``: WGL per key (``linearizability``);
- models ``Register``, ``KV`` and the ``Model`` base class for your own (``models``);
- ``check_queue`` / ``check_set``: lost, duplicated, unexpected records (``queue``);
- ``history_stats``: throughput, latency, availability in and out of fault windows (``stats``).

Verdicts are ``Verdict.VALID | INVALID | UNKNOWN``, composed with ``compose``.
"""

from __future__ import annotations

from distlab.checkers.history import History, HistoryError, Op, from_records, load, parse_lines
from distlab.checkers.linearizability import (
    KeyResult,
    LinearizabilityResult,
    check_linearizable,
)
from distlab.checkers.models import ILLEGAL, KV, MODELS, UNKNOWN, Model, Register, get_model
from distlab.checkers.queue import check_queue, check_set
from distlab.checkers.verdict import Verdict, compose

__all__ = [
    "ILLEGAL",
    "KV",
    "MODELS",
    "UNKNOWN",
    "History",
    "HistoryError",
    "KeyResult",
    "LinearizabilityResult",
    "Model",
    "Op",
    "Register",
    "Verdict",
    "check_linearizable",
    "check_queue",
    "check_set",
    "compose",
    "from_records",
    "get_model",
    "load",
    "parse_lines",
]
