"""The PostgreSQL work queue's speed, each figure beside a baseline measured in
the same test on the same server, so the gates can judge ratios that a busy
machine moves far less than it moves absolute rates.

- claims/s by batch size, over a raw ``FOR UPDATE SKIP LOCKED`` loop (the
  least a claim can be: no claim id, no attempt count);
- status updates/s: ``settle`` of claimed batches, over a raw ``UPDATE``;
- 10 processors at once over one processor (records/s from the database's
  own timestamps, so process start-up is not counted), checked exactly-once.

Rounds alternate which side goes first and the median of the per-round ratios
is recorded: the machine's speed wanders from one second to the next. The
long form is ``bench/queue_throughput.py``. The tests check only that the
work was done; the gates in config.toml judge the figures.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from distlab import proc
from reference_system.queue import Outcome, claim, enqueue_bulk, migrate, settle, status_counts

pytestmark = pytest.mark.performance

ROUNDS = 3
RECORDS = {1: 400, 10: 2_000, 100: 5_000}

# The least a claim can do: the same safe shape (a MATERIALIZED CTE) without
# the claim id, the attempt count and the queue name.
RAW_CLAIM = """
WITH picked AS MATERIALIZED (
    SELECT id FROM queue_records WHERE status = 'pending' AND run_after <= now()
     ORDER BY id LIMIT %(n)s FOR UPDATE SKIP LOCKED)
UPDATE queue_records AS r SET status = 'processing', claimed_by = %(me)s, claimed_at = now()
  FROM picked WHERE r.id = picked.id
RETURNING r.id
"""
RAW_COMPLETE = (
    "UPDATE queue_records SET status = 'completed', completed_at = now() WHERE id = ANY(%s)"
)


@pytest.fixture
def queue(pg_schema: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_schema, autocommit=True) as conn:
        migrate(conn)
        yield conn


def refill(conn: psycopg.Connection[Any], n: int) -> None:
    """An empty queue, then ``n`` fresh records (COPY, then ANALYZE)."""
    conn.execute("TRUNCATE queue_records, queue_results")
    enqueue_bulk(conn, [{"i": i} for i in range(n)])


def timed(work: Callable[[], int]) -> float:
    """Records per second of ``work()`` (which returns how many it did)."""
    t0 = time.perf_counter()
    done = work()
    return done / (time.perf_counter() - t0)


def claim_all(conn: psycopg.Connection[Any], batch: int) -> int:
    done = 0
    while got := claim(conn, "perf", batch):
        done += len(got)
    return done


def raw_claim_all(conn: psycopg.Connection[Any], batch: int) -> int:
    done = 0
    while ids := conn.execute(RAW_CLAIM, {"me": "raw", "n": batch}).fetchall():
        done += len(ids)
    return done


def paired(rounds: int, ours: Callable[[], float], raw: Callable[[], float]) -> dict[str, float]:
    """Alternate ``ours`` and ``raw`` (each returns a rate); medians and the median ratio."""
    mine, base, ratios = [], [], []
    for r in range(rounds):
        if r % 2 == 0:
            a = ours()
            b = raw()
        else:
            b = raw()
            a = ours()
        mine.append(a)
        base.append(b)
        ratios.append(a / b)
    return {
        "ours": statistics.median(mine),
        "raw": statistics.median(base),
        "ratio": statistics.median(ratios),
    }


@pytest.mark.parametrize("batch", [1, 10, 100])
def test_claims_per_second_against_a_raw_skip_locked_loop(queue, metric, batch):
    n = RECORDS[batch]

    def ours() -> float:
        refill(queue, n)
        rate = timed(lambda: claim_all(queue, batch))
        assert status_counts(queue)["processing"] == n  # every record claimed, once
        return rate

    def raw() -> float:
        refill(queue, n)
        return timed(lambda: raw_claim_all(queue, batch))

    figures = paired(ROUNDS, ours, raw)
    print(f"batch {batch}: {figures}")
    metric("queue_claims_per_s", figures["ours"], "records/s", batch=batch)
    metric("queue_raw_claims_per_s", figures["raw"], "records/s", batch=batch)
    metric("queue_claim_ratio", figures["ratio"], "", batch=batch)


def test_status_updates_per_second_against_a_raw_update(queue, metric):
    n, batch = RECORDS[10], 10

    def ours() -> float:
        refill(queue, n)
        claims = []
        while got := claim(queue, "perf", batch):
            claims.append([Outcome(c, True, "ok") for c in got])

        def settle_all() -> int:
            return sum(settle(queue, "perf", outcomes)[0] for outcomes in claims)

        rate = timed(settle_all)
        assert status_counts(queue)["completed"] == n
        return rate

    def raw() -> float:
        refill(queue, n)
        claims = []
        while ids := queue.execute(RAW_CLAIM, {"me": "raw", "n": batch}).fetchall():
            claims.append([i for (i,) in ids])

        def complete_all() -> int:
            return sum(queue.execute(RAW_COMPLETE, (ids,)).rowcount for ids in claims)

        return timed(complete_all)

    figures = paired(ROUNDS, ours, raw)
    print(f"settle batch {batch}: {figures}")
    metric("queue_status_updates_per_s", figures["ours"], "records/s", batch=batch)
    metric("queue_raw_updates_per_s", figures["raw"], "records/s", batch=batch)
    metric("queue_status_update_ratio", figures["ratio"], "", batch=batch)


def run_processors(dsn: str, count: int, records: int) -> float:
    """``count`` processors drain ``records``; records/s from first claim to last completion."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE queue_records, queue_results, queue_processors")
        enqueue_bulk(conn, [{"i": i} for i in range(records)])
    argv = [sys.executable, "-m", "reference_system.processor", "--dsn", dsn, "--batch", "10"]
    procs = [
        proc.spawn([*argv, "--instance-id", f"w{i}", "--exit-when-empty"], label=f"perf-w{i}")
        for i in range(count)
    ]
    try:
        codes = [p.wait(120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                proc.kill_group(p)
                p.wait()
    assert codes == [0] * count
    with psycopg.connect(dsn) as conn:
        assert status_counts(conn)["completed"] == records
        row = conn.execute(
            "SELECT count(*), count(DISTINCT record_id) FROM queue_results"
        ).fetchone()
        assert row == (records, records), f"results (rows, distinct records): {row}"
        span = conn.execute(
            "SELECT extract(epoch FROM max(completed_at) - min(claimed_at)) FROM queue_records"
        ).fetchone()
    assert span and span[0]
    return records / float(span[0])


def test_ten_processors_at_once_against_one(queue, pg_schema, metric):
    one = run_processors(pg_schema, 1, 2_000)
    ten = run_processors(pg_schema, 10, 5_000)
    print(f"1 worker {one:.0f} records/s, 10 workers {ten:.0f} records/s")
    metric("queue_1_worker_records_per_s", one, "records/s", workers=1)
    metric("queue_10_workers_records_per_s", ten, "records/s", workers=10)
    metric("queue_10_workers_speedup", ten / one, "", workers=10)
