"""Failover of the reference KV cluster: SIGKILL the leader, time until a new leader serves writes.

3 nodes on loopback (no proxies), election timeouts 150-300 ms. Each trial:
wait for an agreed leader, start 4 writers retrying with short attempt
timeouts, SIGKILL the leader, and stop the clock at the first write that a
*different* node acknowledges; then restart the killed node and let it catch
up. Figures: median and worst over the trials.

    .venv/bin/python bench/raft_failover.py [--trials 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._results import record
from bench.raft_throughput import wait_leader
from distlab.cluster import Cluster
from distlab.config.loader import load
from reference_system.client import Client

ROOT = Path(__file__).resolve().parent.parent
WRITERS = 4


async def one_trial(cluster: Cluster, addrs: dict, trial: int) -> float:
    """Seconds from SIGKILL of the leader to the first write acknowledged by another node."""
    async with Client(addrs) as probe:
        old = await wait_leader(probe, cluster.ids)
    done = asyncio.Event()
    acked_at: list[float] = []
    killed_at: list[float] = []

    async def writer(n: int) -> None:
        async with Client(
            addrs, timeout=10.0, attempt_timeout=0.1, backoff=0.005, max_backoff=0.03
        ) as c:
            i = 0
            while not done.is_set():
                i += 1
                r = await c.put(f"failover-{trial}-{n}", i)
                if r.ok and r.reply.get("node") != old and killed_at:
                    acked_at.append(time.monotonic())
                    done.set()

    tasks = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
    await asyncio.sleep(0.3)  # writers are warm and talking to the old leader
    killed_at.append(time.monotonic())
    await asyncio.to_thread(cluster[old].kill)
    await asyncio.wait_for(done.wait(), 30)
    await asyncio.gather(*tasks)
    await asyncio.to_thread(cluster[old].restart)
    return acked_at[0] - killed_at[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10)
    args = ap.parse_args()
    cfg = load(ROOT / "config.toml")
    run = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    with Cluster(cfg.cluster, run, nodes=3, network=cfg.network, direct=True, cwd=ROOT) as c:
        addrs = {i: c.client_address(i) for i in c.ids}

        async def go() -> list[float]:
            return [await one_trial(c, addrs, t) for t in range(args.trials)]

        times = asyncio.run(go())
    print("trials (ms):", ", ".join(f"{t * 1000:.0f}" for t in times))
    record(
        "raft 3 nodes: SIGKILL leader to new leader serving writes, median",
        statistics.median(times) * 1000,
        "ms",
    )
    record(
        "raft 3 nodes: SIGKILL leader to new leader serving writes, worst", max(times) * 1000, "ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
