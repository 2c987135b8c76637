"""How much a processor's memory grows while it works through 100,000 records
of 1 KB (target: < 50 MB).

The processor starts on an empty queue; its RSS once it is registered and
idle is the baseline. Then 100,000 records are enqueued with COPY and its
RSS is sampled every 50 ms until the queue is drained; the figure is the
peak minus the baseline.

    .venv/bin/python bench/queue_rss.py [--records N] [--no-record]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
import psycopg

from bench._results import record
from distlab import proc
from distlab.pg import Postgres
from reference_system.queue import enqueue_bulk, migrate, status_counts

PAYLOAD_BYTES = 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--no-record", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()
    filler = "x" * (PAYLOAD_BYTES - 40)
    with Postgres.start(throwaway=True) as pg:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            migrate(conn)
        # spawn: the processor dies with the benchmark, also when it is killed.
        worker = proc.spawn(
            [sys.executable, "-m", "reference_system.processor", "--dsn", pg.dsn,
             "--batch", str(args.batch), "--poll", "0.05", "--instance-id", "rss"],
            stderr=None, label="processor",
        )  # fmt: skip
        try:
            me = psutil.Process(worker.pid)
            with psycopg.connect(pg.dsn, autocommit=True) as conn:
                deadline = time.monotonic() + 30
                while not conn.execute("SELECT 1 FROM queue_processors").fetchone():
                    if time.monotonic() > deadline:
                        raise SystemExit("the processor did not register")
                    time.sleep(0.05)
                time.sleep(0.5)  # let it settle into its idle poll loop
                baseline = me.memory_info().rss
                enqueue_bulk(conn, ({"i": i, "data": filler} for i in range(args.records)))
                started = time.monotonic()
                peak = baseline
                while True:
                    peak = max(peak, me.memory_info().rss)
                    counts = status_counts(conn)
                    if counts["completed"] == args.records:
                        break
                    if worker.poll() is not None:
                        raise SystemExit(f"the processor exited with {worker.returncode}")
                    time.sleep(0.05)
                took = time.monotonic() - started
        finally:
            worker.terminate()
            worker.wait(30)
    growth_mb = (peak - baseline) / 2**20
    print(
        f"{args.records} records of {PAYLOAD_BYTES} B in {took:.1f} s; RSS baseline "
        f"{baseline / 2**20:.1f} MB, peak {peak / 2**20:.1f} MB, growth {growth_mb:.1f} MB"
    )
    if not args.no_record:
        record(f"queue_processor_rss_growth {args.records}x1KB", growth_mb, "MB")
        record(
            f"queue_processor_drain {args.records}x1KB b{args.batch}",
            args.records / took,
            "records/s",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
