"""Redis replication and Sentinel failover, with clients that follow the primary."""

from __future__ import annotations

import itertools
import time

import pytest
from client import primary_of
from support import adds_and_reads, final_read, judged, safe_role, set_client, wait_until

from distlab.checkers.verdict import Verdict
from distlab.nemesis import make_fault
from distlab.nemesis.schedule import Schedule

pytestmark = pytest.mark.distributed


def test_writes_reach_every_replica(cluster, workload, history) -> None:
    wait_until("sentinels agree redis1 is primary", lambda: primary_of(cluster) == "redis1", 15)
    counter = itertools.count(1)
    w = workload(set_client(cluster), mix=adds_and_reads(3, 1, counter), clients=3, max_ops=300)
    summary = w.run()
    assert summary.ok > 0, summary
    final_read(workload, cluster)
    result = judged(history)
    assert result.verdict == Verdict.VALID, result.summary()
    wanted = {op.value for op in history.history().ops if op.f == "add" and op.type == "ok"}
    assert wanted

    def replicas_have_all() -> bool:
        import redis

        for node in ("redis2", "redis3"):
            host, port = cluster.client_address(node)
            conn = redis.Redis(host, port, socket_timeout=1)
            try:
                have = {int(v) for v in conn.smembers("items")}
            finally:
                conn.close()
            if not wanted <= have:
                return False
        return True

    wait_until("both replicas hold every acknowledged add", replicas_have_all, 10)


def test_killing_the_primary_fails_over_and_clients_follow(
    cluster, nemesis, workload, history, metric
) -> None:
    wait_until("sentinels agree redis1 is primary", lambda: primary_of(cluster) == "redis1", 15)
    counter = itertools.count(1)
    # SIGKILL whoever leads among the Redis members 2 s in; it comes back 8 s later
    # (empty: no persistence), and Sentinel must turn it into a replica.
    schedule = Schedule((make_fault("kill", "leader:group:redis", 2, 8),))
    w = workload(set_client(cluster), mix=adds_and_reads(1, 1, counter), clients=4, duration_s=14)
    killed_at = None
    with nemesis(schedule, cluster=cluster):
        w.start()
        time.sleep(2.0)  # the schedule's own clock: the kill is due now
        wait_until("redis1 is down", lambda: cluster["redis1"].state != "up", 5)
        killed_at = time.monotonic_ns()
        wait_until(
            "sentinels promote a replica",
            lambda: primary_of(cluster) in ("redis2", "redis3"),
            15,
        )
        promoted_at = time.monotonic_ns()
        w.join()
    new_primary = primary_of(cluster)
    assert new_primary in ("redis2", "redis3")
    wait_until(
        "the old primary rejoins as a replica",
        lambda: safe_role(cluster, "redis1") == "follower",
        20,
    )
    final_read(workload, cluster)
    result = judged(history)
    ops = history.history().ops
    followed = [op for op in ops if op.f == "add" and op.type == "ok" and op.call > promoted_at]
    assert followed, "no client wrote successfully after the failover: they did not follow"
    metric("failover_s", (promoted_at - killed_at) / 1e9, "s")
    metric("lost_acked_writes_on_kill", len(result.lost), "writes")
    # Acknowledged writes may be lost when the primary dies before replicating
    # them (replication is asynchronous); none may be invented or duplicated.
    assert not result.unexpected and not result.duplicated, result.summary()
