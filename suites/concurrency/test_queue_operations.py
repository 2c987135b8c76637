"""Queue operations racing in threads of one process, each on its own connection:
concurrent status updates, and a mix of enqueue, claim, settle, reclaim,
counts, cleanup and health. No errors (no deadlocks), and the books balance."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import psycopg
import pytest
from support.race import race

from reference_system.queue import claims, health, migrate, status_counts
from reference_system.queue.manage import cleanup_completed, enqueue, enqueue_bulk

pytestmark = pytest.mark.concurrency


# Set when one racer failed or time ran out: the others stop instead of
# waiting forever for records that will never settle.
_gave_up = threading.Event()


def _results_per_record(conn: psycopg.Connection) -> dict[int, int]:
    rows = conn.execute("SELECT record_id, count(*) FROM queue_results GROUP BY 1")
    return {int(r): int(n) for r, n in rows}


def test_concurrent_status_updates_settle_each_record_once(pg_schema: str, root_seed: int) -> None:
    total, workers = 2000, 8
    with psycopg.connect(pg_schema, autocommit=True) as conn:
        migrate(conn)
        enqueue_bulk(conn, ({"i": i} for i in range(total)), max_attempts=100)
        for w in range(workers):
            claims.register(conn, f"w{w}", "host", w)

    def worker(w: int) -> None:
        rng = random.Random(root_seed + w)
        me = f"w{w}"
        with psycopg.connect(pg_schema, autocommit=True) as conn:
            while not _gave_up.is_set():
                batch = claims.claim(conn, me, rng.randint(1, 30))
                if not batch:
                    left = status_counts(conn)
                    if left["pending"] == 0 and left["processing"] == 0:
                        return
                    time.sleep(0.005)
                    conn.execute(
                        "UPDATE queue_records SET run_after = now() WHERE status = 'pending'"
                    )
                    continue
                # Some succeed, some fail (and come back), some are given back.
                outcomes, giveback = [], []
                for r in batch:
                    roll = rng.random()
                    if roll < 0.1:
                        giveback.append(r)
                    else:
                        outcomes.append(claims.Outcome(r, roll > 0.3, output=me, error="flaky"))
                claims.settle(conn, me, outcomes, backoff_base_s=0.001, backoff_cap_s=0.01)
                claims.release(conn, me, giveback)

    race(workers, worker, gave_up=_gave_up)
    with psycopg.connect(pg_schema) as conn:
        assert status_counts(conn) == {
            "pending": 0,
            "processing": 0,
            "completed": total,
            "failed": 0,
        }
        per_record = _results_per_record(conn)
    assert len(per_record) == total and set(per_record.values()) == {1}


def test_mixed_concurrent_queue_operations_balance(pg_schema: str, root_seed: int) -> None:
    with psycopg.connect(pg_schema, autocommit=True) as conn:
        migrate(conn)
        for name in ("c0", "c1", "c2", "ghost"):
            claims.register(conn, name, "host", 0)
        # "ghost" holds claims and has gone silent: reclaim must put them back.
        enqueue_bulk(conn, ({"ghost": i} for i in range(50)))
        claims.claim(conn, "ghost", 50)
        conn.execute(
            "UPDATE queue_processors SET heartbeat_at = now() - interval '1 hour'"
            " WHERE instance_id = 'ghost'"
        )
    enqueued = [50]
    cleaned = [0]
    stop = threading.Event()
    lock = threading.Lock()
    deadline = time.monotonic() + 30

    def producer(i: int) -> None:
        rng = random.Random(root_seed * 31 + i)
        with psycopg.connect(pg_schema, autocommit=True) as conn:
            for round_ in range(20):
                if rng.random() < 0.5:
                    enqueue(conn, {"p": i, "r": round_})
                    n = 1
                else:
                    n = enqueue_bulk(conn, ({"p": i, "r": round_, "k": k} for k in range(25)))
                with lock:
                    enqueued[0] += n

    def consumer(i: int) -> None:
        me = f"c{i}"
        with psycopg.connect(pg_schema, autocommit=True) as conn:
            while not stop.is_set() and not _gave_up.is_set() and time.monotonic() < deadline:
                batch = claims.claim(conn, me, 10)
                claims.settle(conn, me, [claims.Outcome(r, True, output=me) for r in batch])
                claims.heartbeat(conn, me)
                if not batch:
                    time.sleep(0.01)

    def housekeeper(_: int) -> None:
        with psycopg.connect(pg_schema, autocommit=True) as conn:
            while not stop.is_set() and not _gave_up.is_set() and time.monotonic() < deadline:
                claims.reclaim_orphans(conn, stale_after_s=30)
                status_counts(conn)
                n = cleanup_completed(conn, older_than_s=0, batch=7)
                with lock:
                    cleaned[0] += n
                assert health(lambda: psycopg.connect(pg_schema)).database_ok
                time.sleep(0.02)

    roles: list[Callable[[], None]] = [
        *(lambda i=i: producer(i) for i in range(3)),
        *(lambda i=i: consumer(i) for i in range(3)),
        lambda: housekeeper(0),
    ]

    def conductor() -> None:
        # Stop consumers and housekeeping once everything enqueued is done.
        while time.monotonic() < deadline:
            with psycopg.connect(pg_schema) as conn:
                c = status_counts(conn)
            with lock:
                done = enqueued[0] == c["completed"] + cleaned[0] and c["pending"] == 0
            if done and c["processing"] == 0 and enqueued[0] > 50:
                break
            time.sleep(0.1)
        stop.set()

    watcher = threading.Thread(target=conductor)
    watcher.start()
    race(len(roles), lambda i: roles[i](), gave_up=_gave_up)
    watcher.join(5)
    with psycopg.connect(pg_schema) as conn:
        c = status_counts(conn)
        per_record = _results_per_record(conn)
    assert c["pending"] == c["processing"] == c["failed"] == 0
    assert c["completed"] + cleaned[0] == enqueued[0], (c, cleaned[0], enqueued[0])
    assert len(per_record) == enqueued[0] and set(per_record.values()) == {1}
