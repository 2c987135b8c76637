"""Workloads: concurrent logical clients that record what they saw (docs/workload.md).

Users implement ``Client``; ``Workload`` runs N of them with an ``OpMix`` over
``Keys``, recording into a ``HistoryRecorder`` that the checkers then judge.
"""

from __future__ import annotations

from distlab.workload.client import Client, Completion
from distlab.workload.engine import ClientGroup, ClientSlot, Workload, WorkloadSummary
from distlab.workload.ops import Keys, Operation, OpMix, kv_mix, register_mix
from distlab.workload.recorder import HistoryRecorder

__all__ = [
    "Client",
    "ClientGroup",
    "ClientSlot",
    "Completion",
    "HistoryRecorder",
    "Keys",
    "OpMix",
    "Operation",
    "Workload",
    "WorkloadSummary",
    "kv_mix",
    "register_mix",
]
