"""Claim + complete throughput of the queue processors against a raw psycopg
SKIP LOCKED loop, measured in the same run on the same server.

For batch sizes 1/10/100 and 1/2/4/8 workers: enqueue records, start the
workers as separate processes, and take the rate from the database
(first claim to last completion), so process start-up is not counted.
Records are enqueued only once every worker is up. The raw loop is the
least a worker can do: one UPDATE ... SKIP LOCKED ... RETURNING to claim,
one UPDATE to complete. The processor adds what makes
it safe: the claim-id fence, a result row per record, transactions, the
heartbeat and the pool.

    .venv/bin/python bench/queue_throughput.py [--quick] [--batches 100 --workers 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench._results import record
from distlab import proc
from distlab.pg import Postgres
from reference_system.queue import enqueue_bulk, migrate

# The same safe shape as the processor's claim (a MATERIALIZED CTE; see
# reference_system/queue/claims.py for why not ``WHERE id IN (...)``).
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


def raw_worker(dsn: str, batch: int, me: str) -> None:
    """The baseline: claim and complete in a tight loop until nothing is pending."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        # Say we are ready, as a processor does by registering.
        conn.execute(
            "INSERT INTO queue_processors (instance_id, host, pid) VALUES (%s, 'bench', 0)", (me,)
        )
        while True:
            ids = [r[0] for r in conn.execute(RAW_CLAIM, {"me": me, "n": batch})]
            if ids:
                conn.execute(RAW_COMPLETE, (ids,))
                continue
            if not conn.execute(
                "SELECT 1 FROM queue_records WHERE status = 'pending' LIMIT 1"
            ).fetchone():
                return
            time.sleep(0.005)


def _records_for(batch: int, quick: bool) -> int:
    # Enough for a run of a few seconds. This machine's speed wanders by a
    # third from one second to the next: with the 40,000 records of batch 100
    # we used first (0.6 s a run) the same cell's ratio spread over 0.67-1.03.
    n = {1: 6_000, 10: 30_000}.get(batch, 160_000)
    return n // 4 if quick else n


def _reset(dsn: str) -> None:
    """Empty tables and one gate record that is never due: it keeps the workers
    (which stop on an empty queue) waiting until every one of them is up."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE queue_records, queue_results, queue_processors")
        conn.execute(
            "INSERT INTO queue_records (payload, run_after) VALUES ('{\"gate\": true}', 'infinity')"
        )


def _open_gate(dsn: str, records: int, workers: int, procs: list[subprocess.Popen[bytes]]) -> None:
    """Wait until every worker is up (registered), then enqueue all records at once.

    Process start-up differs (a processor imports more and migrates), and on
    a busy machine it takes seconds: without a common start the first
    worker up would run alone for a while.
    """
    deadline = time.monotonic() + 120
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM queue_processors").fetchone()
            if row is not None and row[0] >= workers:
                break
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                raise SystemExit("a worker did not come up")
            time.sleep(0.02)
        enqueue_bulk(conn, ({"i": i} for i in range(records)))  # one COPY, one commit
        conn.execute("DELETE FROM queue_records WHERE run_after = 'infinity'")


def _rate(dsn: str, records: int) -> float:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*), extract(epoch FROM max(completed_at) - min(claimed_at))"
            " FROM queue_records WHERE status = 'completed'"
        ).fetchone()
    assert row is not None
    done, seconds = int(row[0]), float(row[1] or 0)
    if done != records:
        raise SystemExit(f"only {done} of {records} records completed")
    return done / seconds if seconds > 0 else float("inf")


def run(dsn: str, kind: str, batch: int, workers: int, records: int) -> float:
    """Records per second for ``workers`` processes of ``kind`` at ``batch``."""
    _reset(dsn)
    if kind == "raw":
        argv = [sys.executable, __file__, "--raw-worker", dsn, str(batch)]
    else:
        argv = [
            *(sys.executable, "-m", "reference_system.processor", "--dsn", dsn),
            *("--batch", str(batch), "--exit-when-empty", "--no-migrate", "--poll", "0.01"),
        ]
    # spawn: the workers die with the benchmark, also when it is killed.
    procs = [
        proc.spawn([*argv, f"w{i}"] if kind == "raw" else argv, stderr=None, label=kind)
        for i in range(workers)
    ]
    try:
        _open_gate(dsn, records, workers, procs)
        for p in procs:
            if p.wait(timeout=600) != 0:
                raise SystemExit(f"a {kind} worker failed with exit code {p.returncode}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return _rate(dsn, records)


def main() -> int:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--quick", action="store_true", help="a quarter of the records")
    ap.add_argument("--no-record", action="store_true", help="print only; leave RESULTS.md alone")
    ap.add_argument("--batches", default="1,10,100", help="batch sizes, comma-separated")
    ap.add_argument("--workers", default="1,2,4,8", help="worker counts, comma-separated")
    ap.add_argument(
        "--repeat", type=int, default=3, help="raw/processor run pairs per cell (default 3)"
    )
    ap.add_argument(
        "--raw-worker", nargs=3, metavar=("DSN", "BATCH", "NAME"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.raw_worker:
        raw_worker(args.raw_worker[0], int(args.raw_worker[1]), args.raw_worker[2])
        return 0
    with Postgres.start(throwaway=True) as pg:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            migrate(conn)
        print(
            f"PostgreSQL {pg!r}; workers are processes; rates from first claim to last completion"
        )
        print(
            f"best of {max(1, args.repeat)} alternating raw/processor runs per cell;"
            " 'pairs' is the median (and range) of each pair's ratio"
        )
        print(
            f"{'batch':>5} {'workers':>7} {'raw rec/s':>10} {'processor rec/s':>16}"
            f" {'ratio':>6}  {'pairs':<17}"
        )
        for batch in (int(b) for b in args.batches.split(",")):
            for workers in (int(w) for w in args.workers.split(",")):
                records = _records_for(batch, args.quick)
                started = time.monotonic()
                # Alternate raw and processor runs so both see the same noise.
                raws, ours = [], []
                for _ in range(max(1, args.repeat)):
                    raws.append(run(pg.dsn, "raw", batch, workers, records))
                    ours.append(run(pg.dsn, "processor", batch, workers, records))
                raw, best = max(raws), max(ours)
                pairs = sorted(o / r for r, o in zip(raws, ours, strict=True))
                median = statistics.median(pairs)
                spread = f"{median:.2f} ({pairs[0]:.2f}-{pairs[-1]:.2f})"
                print(
                    f"{batch:>5} {workers:>7} {raw:>10,.0f} {best:>16,.0f} {best / raw:>6.2f}"
                    f"  {spread:<17} ({time.monotonic() - started:.0f} s)",
                    flush=True,
                )
                name = f"queue_claim_complete b{batch} x{workers}"
                if args.no_record:
                    continue
                record(f"{name} raw", raw, "records/s")
                record(f"{name} processor", best, "records/s")
                record(f"{name} processor/raw", best / raw, "ratio")
                record(f"{name} processor/raw median of pairs", median, "ratio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
