"""Queue management: enqueue (one, or in bulk through COPY), status counts,
cleanup of completed records, and health."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

STATUSES = ("pending", "processing", "completed", "failed")
ANALYZE_AFTER = 1000  # records in one bulk enqueue


def enqueue(
    conn: Any, payload: Any, *, queue: str = "default", max_attempts: int = 5, delay_s: float = 0
) -> int:
    """Add one record; returns its id."""
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO queue_records (queue, payload, max_attempts, run_after)"
            " VALUES (%s, %s, %s, now() + make_interval(secs => %s)) RETURNING id",
            (queue, json.dumps(payload), max_attempts, delay_s),
        ).fetchone()
    return int(row[0])


def enqueue_bulk(
    conn: Any, payloads: Iterable[Any], *, queue: str = "default", max_attempts: int = 5
) -> int:
    """Add many records with one COPY (in the order given); returns how many."""
    count = 0
    with (
        conn.transaction(),
        conn.cursor() as cur,
        cur.copy("COPY queue_records (queue, payload, max_attempts) FROM STDIN") as copy,
    ):
        for payload in payloads:
            copy.write_row((queue, json.dumps(payload), max_attempts))
            count += 1
    if count >= ANALYZE_AFTER:
        # Fresh statistics now rather than at autovacuum's next round: with
        # stale ones (say, an empty table) claims sort every pending record
        # instead of walking the partial index in order.
        conn.execute("ANALYZE queue_records")
        if not conn.autocommit:
            conn.commit()
    return count


def status_counts(conn: Any, queue: str | None = None) -> dict[str, int]:
    """How many records are in each status (every status present, zeros included)."""
    sql = "SELECT status, count(*) FROM queue_records"
    params: tuple[Any, ...] = ()
    if queue is not None:
        sql += " WHERE queue = %s"
        params = (queue,)
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in conn.execute(sql + " GROUP BY status", params):
        counts[status] = int(n)
    conn.commit()
    return counts


def cleanup_completed(conn: Any, older_than_s: float = 0, batch: int = 10_000) -> int:
    """Delete completed records older than ``older_than_s``; returns how many.

    Works in batches so a large cleanup never holds one long transaction
    over rows the processors are claiming next to.
    """
    total = 0
    while True:
        with conn.transaction():
            cur = conn.execute(
                """
                WITH doomed AS MATERIALIZED (
                    SELECT id FROM queue_records
                     WHERE status = 'completed'
                       AND completed_at < now() - make_interval(secs => %s)
                     LIMIT %s FOR UPDATE SKIP LOCKED)
                DELETE FROM queue_records AS r USING doomed WHERE r.id = doomed.id
                """,
                (older_than_s, batch),
            )
        total += cur.rowcount
        if cur.rowcount < batch:
            return total


@dataclass
class Health:
    """What an operator wants to know at a glance."""

    database_ok: bool
    error: str = ""
    latency_ms: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    lag_s: float = 0.0  # age of the oldest due pending record
    processors: list[dict[str, Any]] = field(default_factory=list)
    pool: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def health(conn_factory: Any, stale_after_s: float = 10.0, pool: Any = None) -> Health:
    """Database reachable, status counts, queue lag, instances, and pool stats.

    ``conn_factory`` is a zero-argument callable returning a context-managed
    connection (``lambda: psycopg.connect(dsn)`` or ``pool.connection``).
    Never raises for a database problem: that is what it reports.
    """
    pool_stats = dict(pool.get_stats()) if pool is not None else {}
    started = time.perf_counter()
    try:
        with conn_factory() as conn:
            conn.execute("SELECT 1").fetchone()
            latency_ms = (time.perf_counter() - started) * 1000
            counts = status_counts(conn)
            lag = conn.execute(
                "SELECT coalesce(extract(epoch FROM now() - min(run_after)), 0)"
                " FROM queue_records WHERE status = 'pending' AND run_after <= now()"
            ).fetchone()
            rows = conn.execute(
                "SELECT instance_id, host, pid, state, processed, failed,"
                " extract(epoch FROM now() - heartbeat_at) AS silent_s"
                " FROM queue_processors ORDER BY started_at"
            ).fetchall()
            conn.commit()
    except Exception as exc:  # a health check reports failures, it does not raise them
        return Health(False, error=" ".join(str(exc).split()), pool=pool_stats)
    processors = [
        {
            "instance_id": r[0],
            "host": r[1],
            "pid": r[2],
            "state": r[3],
            "processed": int(r[4]),
            "failed": int(r[5]),
            "silent_s": float(r[6]),
            "alive": r[3] != "stopped" and float(r[6]) < stale_after_s,
        }
        for r in rows
    ]
    return Health(
        True,
        latency_ms=latency_ms,
        counts=counts,
        lag_s=float(lag[0]) if lag else 0.0,
        processors=processors,
        pool=pool_stats,
    )
