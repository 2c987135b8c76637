"""How long the reference cluster takes to start, and how much a queue
processor's memory grows with the records it works through.

- Cluster start: three reference nodes behind the proxies, from ``start()`` to
  every node healthy, and on to one leader with quorum; the median of three.
- Memory: one processor's RSS while it drains 1,000 and then 100,000 records
  of 1 KB (seed 004's 1,000, and a hundred times more to show what grows with
  the work): the peak over the idle processor's RSS, sampled every 50 ms.

Reported as figures; the gates in config.toml bound them loosely (an absolute
time on a shared machine is a trend, not a verdict). The long forms are
``bench/cluster_startup.py`` and ``bench/queue_rss.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import psutil
import psycopg
import pytest
from support.refsys_client import role_probe

from distlab import proc
from distlab.cluster import Cluster
from distlab.seeds import derive
from reference_system.queue import enqueue_bulk, migrate, status_counts

pytestmark = pytest.mark.performance

PAYLOAD_BYTES = 1024


def test_cluster_start_time(cluster_settings, cluster_network, distlab_run_dir, root_seed, metric):
    healthy, led = [], []
    for i in range(3):
        cluster = Cluster(
            cluster_settings,
            distlab_run_dir / "perf-start" / f"start{i}",
            network=cluster_network,
            seed=derive(root_seed, f"perf-start{i}"),
            name=f"start{i}",
        )
        t0 = time.perf_counter()
        try:
            cluster.start()
            healthy.append(time.perf_counter() - t0)
            probe = role_probe(cluster)
            deadline = t0 + 30
            while not any(probe(n) == "leader" for n in cluster.ids):
                assert time.perf_counter() < deadline, "no leader within 30 s of the start"
                time.sleep(0.02)
            led.append(time.perf_counter() - t0)
        finally:
            cluster.close()
    print(f"healthy after {healthy} s, a leader after {led} s")
    tags = {"nodes": cluster_settings.nodes}
    metric("cluster_start_s", statistics.median(healthy), "s", **tags)
    metric("cluster_leader_s", statistics.median(led), "s", **tags)


def rss_growth_mb(dsn: str, records: int, run_dir: Path) -> float:
    """Peak RSS of one processor draining ``records`` of 1 KB, over its idle RSS, in MB."""
    filler = "x" * (PAYLOAD_BYTES - 40)
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn)
        conn.execute("TRUNCATE queue_records, queue_results, queue_processors")
    argv = [sys.executable, "-m", "reference_system.processor", "--dsn", dsn, "--batch", "100"]
    with open(run_dir / f"rss-{records}.err", "wb") as err:
        p = proc.spawn([*argv, "--instance-id", "rss", "--poll", "0.05"], stderr=err, label="rss")
    try:
        watched = psutil.Process(p.pid)
        with psycopg.connect(dsn, autocommit=True) as conn:
            deadline = time.monotonic() + 30
            while not conn.execute("SELECT 1 FROM queue_processors").fetchone():
                assert p.poll() is None and time.monotonic() < deadline, (
                    "processor never registered"
                )
                time.sleep(0.05)
            time.sleep(0.3)  # idle: its pool opened, its threads started
            idle = watched.memory_info().rss
            enqueue_bulk(conn, ({"i": i, "pad": filler} for i in range(records)))
            peak = idle
            deadline = time.monotonic() + 180
            while True:
                peak = max(peak, watched.memory_info().rss)
                counts = status_counts(conn)
                if counts["completed"] == records:
                    break
                assert p.poll() is None, f"the processor died: {counts}"
                assert time.monotonic() < deadline, f"not drained in 180 s: {counts}"
                time.sleep(0.05)
    finally:
        proc.kill_group(p)
        p.wait()
    return (peak - idle) / 2**20


def test_processor_memory_growth_with_1kb_records(pg_schema, distlab_run_dir, metric):
    run_dir = distlab_run_dir / "perf-rss"
    run_dir.mkdir(parents=True, exist_ok=True)
    small = rss_growth_mb(pg_schema, 1_000, run_dir)
    large = rss_growth_mb(pg_schema, 100_000, run_dir)
    print(f"RSS growth: {small:.1f} MB for 1,000 records, {large:.1f} MB for 100,000")
    metric("processor_rss_growth_mb", small, "MB", records=1_000)
    metric("processor_rss_growth_mb", large, "MB", records=100_000)
