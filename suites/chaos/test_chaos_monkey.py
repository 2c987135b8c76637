"""A chaos monkey against the reference Raft KV: random faults, a register workload,
and the history checked for linearizability (15 s in CI, 60 s with --long)."""

from __future__ import annotations

import pytest
from support.refsys_client import client_factory

from distlab.nemesis import chaos_monkey, long_run
from distlab.workload import Keys, register_mix

pytestmark = pytest.mark.chaos

FAULTS = [
    "kill",
    "pause",
    {"kind": "kill", "target": "leader"},
    {"kind": "partition", "shape": "isolate", "target": "leader"},
    {"kind": "partition", "shape": "halves", "target": "all"},
    {"kind": "partition", "shape": "bridge", "target": "all"},
    {"kind": "pause", "target": "leader"},
    {"kind": "latency", "target": "one", "ms": [50, 400], "jitter_ms": 20},
    {"kind": "loss", "target": "one", "probability": 0.3},
]


def test_chaos_monkey_register_history_is_linearizable(
    cluster, kv, nemesis, workload, history, metric
):
    length = 60.0 if long_run() else 15.0
    schedule = chaos_monkey(nemesis.seed, length, 2.5, FAULTS, fault_s=1.5, quiet_s=3.0)
    kv.leader()
    w = workload(
        client_factory(cluster, seed=nemesis.seed % 100_000),
        mix=register_mix(read=2, write=1, cas=1),
        keys=Keys.uniform(4),
        clients=5,
        duration_s=length,
        timeout_s=1.0,
    )
    with nemesis(schedule, cluster=cluster) as n:
        w.run()
    n.raise_errors()
    started = [a for a in n.applied if a.error is None]
    assert len(started) == len(schedule) > 0, schedule.describe()
    result = history.check("register", budget_s=60)
    stats = history.stats(success=("ok", "fail"))
    metric("chaos_monkey.availability", stats.availability or 0.0)
    print(schedule.describe())
    print("\n".join(stats.lines()))
    assert result.verdict == "valid", result.report()
    assert stats.ok > 0
