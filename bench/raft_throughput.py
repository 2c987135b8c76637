"""Reference KV cluster throughput: 3 nodes on loopback, 32 concurrent clients.

Figures: acknowledged puts/s with p50/p99 latency, then linearizable reads/s
(ReadIndex) with p99. A put is acknowledged after two fsyncs in sequence (the
leader's, then a follower's), so with closed-loop clients throughput is at
most clients / latency: the disk's fsync time bounds it (``--tmpfs`` shows
the figure without it). Clients dial nodes directly (no fault proxies): this
measures the node, not the proxy. Each client is its own connection and runs
one request at a time, so throughput comes from batching across clients
(group fsync, one ReadIndex round per batch), not from pipelining.

    .venv/bin/python bench/raft_throughput.py [--seconds 10] [--clients 32] [--proxies]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._results import record
from distlab.cluster import Cluster
from distlab.config.loader import load
from reference_system.client import Client

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds per node, and for this process (the load generator) as "load"."""
    t = os.times()
    return {**{i: cpu_seconds(p) for i, p in pids.items()}, "load": t.user + t.system}


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values)) - 1))
    return sorted_values[k]


async def wait_leader(client: Client, ids: list[str], timeout: float = 10.0) -> str:
    """The leader every node agrees on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            leaders = {(await client.status(i)).get("leader") for i in ids}
        except Exception:
            leaders = {None}
        if len(leaders) == 1 and None not in leaders:
            return leaders.pop()  # type: ignore[return-value]
        await asyncio.sleep(0.05)
    raise RuntimeError("no leader within the timeout")


async def phase(
    addrs: dict, leader: str, clients: int, seconds: float, op: str
) -> tuple[int, list[float], int]:
    """Run ``clients`` closed-loop clients for ``seconds``; (acked ops, latencies in s, failures)."""
    lat: list[float] = []
    failed = 0
    stop_at = time.monotonic() + seconds

    async def one(n: int) -> None:
        nonlocal failed
        async with Client(addrs, timeout=5.0, client_id=f"b{n}") as c:
            c.leader = leader
            i = 0
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                r = await (c.put(f"k{n}-{i % 100}", i) if op == "put" else c.get(f"k{n}-{i % 100}"))
                if r.ok:
                    lat.append(time.perf_counter() - t0)
                else:
                    failed += 1
                i += 1

    await asyncio.gather(*(one(n) for n in range(clients)))
    return len(lat), sorted(lat), failed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument(
        "--proxies", action="store_true", help="route peers and clients through fault proxies"
    )
    ap.add_argument(
        "--tmpfs",
        action="store_true",
        help="data dirs in /dev/shm: fsync costs nothing, which shows what the disk costs",
    )
    args = ap.parse_args()
    cfg = load(ROOT / "config.toml")
    run = Path(tempfile.mkdtemp(prefix="bench-raft-", dir="/dev/shm" if args.tmpfs else None))
    try:
        return measure(args, cfg, run)
    finally:
        # Data dirs of every run piled up (in RAM with --tmpfs).
        shutil.rmtree(run, ignore_errors=True)


def measure(args: argparse.Namespace, cfg: Any, run: Path) -> int:
    """Start the cluster in ``run`` and measure puts, then gets."""
    with Cluster(
        cfg.cluster, run, nodes=3, network=cfg.network, direct=not args.proxies, cwd=ROOT
    ) as c:
        addrs = {i: c.client_address(i) for i in c.ids}

        async def go() -> None:
            async with Client(addrs) as probe:
                leader = await wait_leader(probe, c.ids)
            tag = (" via proxies" if args.proxies else "") + (" on tmpfs" if args.tmpfs else "")
            pids = {n.id: n.pid for n in c.nodes if n.pid is not None}
            for op in ("put", "get"):
                before = cpu_snapshot(pids)
                n, lat, failed = await phase(addrs, leader, args.clients, args.seconds, op)
                after = cpu_snapshot(pids)
                rate = n / args.seconds
                name = f"raft 3 nodes, {args.clients} clients{tag}"
                record(f"{name}: acknowledged {op}s/s", rate, "ops/s")
                record(f"{name}: {op} p50", percentile(lat, 0.50) * 1000, "ms")
                record(f"{name}: {op} p99", percentile(lat, 0.99) * 1000, "ms")
                # CPU per operation is steadier than the rate on a shared machine.
                per_op = {k: (after[k] - before[k]) / max(n, 1) * 1e6 for k in after}
                print(
                    f"{op}: CPU per op (us): "
                    + ", ".join(
                        f"{k}{'*' if k == leader else ''} {v:.0f}" for k, v in per_op.items()
                    )
                    + f", total {sum(per_op.values()):.0f}"
                )
                if failed:
                    print(f"{op}: {failed} operations did not succeed")

        try:
            import uvloop  # the load generator shares the CPU with the nodes: make it cheap

            uvloop.run(go())
        except ImportError:
            asyncio.run(go())
    return 0


if __name__ == "__main__":
    sys.exit(main())
