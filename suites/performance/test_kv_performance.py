"""CI-sized performance figures of the reference KV cluster, recorded as metrics.

Short runs on a shared 2-core machine: the figures are for trends and gates,
not assertions (the long form is bench/raft_throughput.py and
bench/raft_failover.py). The tests only check that the work was done.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from reference_system.client import Client

pytestmark = pytest.mark.performance

CLIENTS = 16
SECONDS = 2.0


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    k = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values)) - 1))
    return sorted_values[k]


async def closed_loop(addrs, leader: str, op: str) -> tuple[list[float], int]:
    """``CLIENTS`` clients issuing ``op`` back to back for ``SECONDS``; (latencies in ms, failures)."""
    latencies: list[float] = []
    failures = 0
    stop_at = time.monotonic() + SECONDS

    async def one(n: int) -> None:
        nonlocal failures
        async with Client(addrs, timeout=5.0) as c:
            c.leader = leader
            i = 0
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                key = f"perf{n}-{i % 50}"
                r = await (c.put(key, i) if op == "put" else c.get(key))
                if r.ok:
                    latencies.append((time.perf_counter() - t0) * 1000)
                else:
                    failures += 1
                i += 1

    await asyncio.gather(*(one(n) for n in range(CLIENTS)))
    return sorted(latencies), failures


@pytest.mark.parametrize("op", ["put", "get"])
def test_throughput_and_latency(cluster, kv, metric, op):
    leader = kv.leader()
    latencies, failures = kv.run(closed_loop(kv.addresses(), leader, op))
    assert latencies, f"no {op} succeeded"
    assert failures == 0, f"{failures} {op}s failed on a healthy cluster"
    tags = {"nodes": len(cluster.ids), "clients": CLIENTS}
    metric(f"kv_{op}_throughput", len(latencies) / SECONDS, "ops/s", **tags)
    for q in (50, 95, 99):
        metric(f"kv_{op}_p{q}_ms", percentile(latencies, q / 100), "ms", **tags)


def test_failover_time_after_sigkill_of_the_leader(cluster, kv, metric):
    old = kv.leader()
    # Short attempt timeouts so the client notices the dead leader quickly:
    # the figure should be the cluster's, not the client's patience.
    client = kv.client(timeout=10.0, attempt_timeout=0.15, backoff=0.01, max_backoff=0.05)
    assert kv.run(client.put("failover", 0)).ok

    async def first_write_on_a_new_leader(t_kill: float) -> tuple[float, str]:
        i = 0
        while True:
            i += 1
            r = await client.put("failover", i)
            if r.ok and r.reply.get("node") != old:
                return time.monotonic() - t_kill, r.reply["node"]

    t_kill = time.monotonic()
    cluster[old].kill()
    elapsed, new = kv.run(first_write_on_a_new_leader(t_kill))
    assert new != old
    metric("kv_failover_ms", elapsed * 1000, "ms", nodes=len(cluster.ids))
