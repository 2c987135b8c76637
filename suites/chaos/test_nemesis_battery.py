"""Jepsen's nemesis battery against the reference KV: each fault shape in turn, with a
register workload (few hot keys, cas-heavy) and a multi-key kv workload (appends)
running through it, both histories checked for linearizability.

Every op goes to a node drawn at random -- a paused, cut-off or deposed leader
included, with its clients still talking to it -- and the register clients mix
short timeouts (they give up first) with long ones (they outwait the node's own
bound on a forwarded request, so its answer reaches them). After the faults,
every node's applied state must be the same (a final local read per key, as
Jepsen's final reads). 10 s per case in CI; ``distlab --long`` runs each for
60 s with the same seeds.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.battery import battery_factory, timeout_groups

from distlab.nemesis import long_run, timeline
from distlab.seeds import derive
from distlab.workload import HistoryRecorder, Keys, Workload, kv_mix, register_mix

pytestmark = pytest.mark.chaos

#: the node command with a small snapshot threshold, so a lagging follower catches up
#: from a snapshot within a case
SNAPSHOTTING = (
    "{python} -m reference_system.node --id {id} --port {port} --peer-port {peer_port}"
    " --peers {peers} --data-dir {data_dir} --snapshot-entries 150"
)
#: the long clients' timeout: past the node's 3 s bound on a forwarded request
LONG_TIMEOUT_S = 4.0
#: keys of the kv workload
KV_KEYS = 200
SHORT_TIMEOUT_S = 0.5


def _plan(case: str, leader: str, followers: list[str], length: float) -> list[dict[str, Any]]:
    """The fault timeline of one case, spread over ``length`` seconds."""
    f1, f2 = followers[0], followers[1]
    every = length / 4
    if case == "pause-leader-then-follower":
        # Longer than an election: a new leader takes over; reads queued at the
        # paused old one are answered (or refused) after SIGCONT.
        return [
            {"kind": "pause", "target": leader, "at_s": 1.0, "duration_s": 2.5},
            {"kind": "pause", "target": f1, "at_s": 1.0 + every * 2, "duration_s": 1.5},
        ]
    if case == "pause-isolated-leader":
        # Cut off and frozen at once: resumed while still cut off, it wakes up
        # believing it leads (its clock stopped too), with its clients' requests
        # waiting in its sockets.
        rounds = [(1.0, leader), (1.0 + every * 2, "leader")]
        return [
            fault
            for at, who in rounds
            for fault in (
                {"kind": "partition", "shape": "isolate", "target": who, "at_s": at}
                | {"duration_s": 3.5},
                {"kind": "pause", "target": who, "at_s": at + 0.05, "duration_s": 2.0},
            )
        ]
    if case == "kill-leader-repeatedly":
        return [
            {"kind": "kill", "target": "leader", "at_s": 1.0 + k * every, "duration_s": 1.5}
            for k in range(3)
        ]
    if case == "isolate-old-leader":
        # Its clients keep talking to it: client links are not cut by a partition.
        return [
            {"kind": "partition", "shape": "isolate", "target": "leader", "at_s": 1.0 + k * every}
            | {"duration_s": 2.0}
            for k in range(2)
        ]
    if case in ("majorities-ring", "bridge"):
        shape = case.replace("-", "_")
        return [
            {"kind": "partition", "shape": shape, "target": "all", "at_s": 1.0 + k * every}
            | {"duration_s": 2.0}
            for k in range(2)
        ]
    if case == "crash-after-vote-or-ack":
        # The leader dies; a follower dies a moment later, right after it voted in
        # the election that followed; later a follower dies mid-stream of acks.
        return [
            {"kind": "kill", "target": leader, "at_s": 1.0, "duration_s": 2.0},
            {"kind": "kill", "target": f1, "at_s": 1.3, "duration_s": 0.8},
            {"kind": "kill", "target": f2, "at_s": 1.0 + every * 2, "duration_s": 0.5},
        ]
    if case == "snapshot-catch-up":
        # A follower down long enough to fall behind the leader's snapshot; when it
        # is back, faults go on while it catches up.
        return [
            {"kind": "kill", "target": f1, "at_s": 0.5, "duration_s": every * 2},
            {"kind": "kill", "target": "leader", "at_s": 0.8 + every * 2, "duration_s": 1.5},
            {"kind": "latency", "target": f1, "ms": 80, "at_s": 1.0 + every * 3}
            | {"duration_s": every / 2},
        ]
    raise AssertionError(f"unknown case {case}")


CASES = [
    pytest.param("pause-leader-then-follower"),
    pytest.param("pause-isolated-leader"),
    pytest.param("kill-leader-repeatedly"),
    pytest.param("isolate-old-leader"),
    pytest.param("majorities-ring", marks=pytest.mark.cluster(nodes=5)),
    pytest.param("bridge", marks=pytest.mark.cluster(nodes=5)),
    pytest.param("crash-after-vote-or-ack"),
    pytest.param("snapshot-catch-up", marks=pytest.mark.cluster(command=SNAPSHOTTING)),
]


@pytest.mark.parametrize("case", CASES)
def test_nemesis_battery_keeps_both_histories_linearizable(
    case, cluster, kv, nemesis, workload, history, root_seed, request
):
    length = 60.0 if long_run() else 10.0
    leader = kv.leader()
    followers = [n for n in cluster.ids if n != leader]
    schedule = timeline(_plan(case, leader, followers, length), name=case)
    seed = nemesis.seed % 100_000
    registers = workload(
        battery_factory(cluster, seed),
        keys=Keys.uniform(3),  # hot keys: every op contends
        duration_s=length,
        timeout_s=LONG_TIMEOUT_S,
        groups=timeout_groups(
            cluster,
            seed,
            register_mix(read=2, write=1, cas=2),
            3,
            2,
            SHORT_TIMEOUT_S,
            LONG_TIMEOUT_S,
        ),
        name="register",
    )
    assert history.path is not None
    kv_history = HistoryRecorder(history.path.with_name("kv-history.jsonl"))
    many = Workload(
        battery_factory(cluster, seed + 7, key_prefix="kv/"),
        kv_history,
        mix=kv_mix(get=2, put=1, append=2),
        # Many keys, most written a few times: a node whose state diverged keeps
        # showing it at the end (a hot key would be overwritten back into line).
        keys=Keys.uniform(KV_KEYS),
        clients=3,
        duration_s=length,
        timeout_s=1.0,
        seed=derive(root_seed, f"battery-kv:{request.node.nodeid}"),
        name="kv",
    )
    try:
        with nemesis(schedule, cluster=cluster) as n:
            many.start()
            registers.run()
            many.join()
    finally:
        if many.started:
            many.stop()
            many.join(timeout_s=5)
        kv_history.close()
    n.raise_errors()
    print(schedule.describe())
    register_result = history.check("register", budget_s=60)
    kv_result = kv_history.check("kv", budget_s=60)
    stats = history.stats(success=("ok", "fail"))
    print("\n".join(stats.lines()))
    assert register_result.verdict == "valid", register_result.report()
    assert kv_result.verdict == "valid", kv_result.report()
    assert stats.ok > 0 and kv_history.stats().ok > 0, "the workloads did nothing"
    keys = [f"k{i}" for i in range(3)] + [f"kv/k{i}" for i in range(KV_KEYS)]
    assert_nodes_converge(cluster, kv, keys)


def assert_nodes_converge(cluster, kv, keys):
    """Once the faults are over and one more write has reached every node, every
    node's applied state (a local read) must be the same: a node that kept entries
    the others replaced shows here even if it never serves a read again."""
    kv.leader()
    assert kv.run(kv.client(timeout=5.0).put("battery/barrier", "done")).ok
    for n in cluster.ids:
        kv.wait(
            f"{n} to apply the barrier write",
            lambda n=n: kv.local_value(n, "battery/barrier") == "done",
            timeout=20.0,
        )
    states = {n: {k: kv.local_value(n, k) for k in keys} for n in cluster.ids}
    first = states[cluster.ids[0]]
    differ = {
        k: {n: states[n][k] for n in cluster.ids}
        for k in keys
        if any(states[n][k] != first[k] for n in cluster.ids)
    }
    assert not differ, f"nodes disagree on applied values after the faults: {differ}"
