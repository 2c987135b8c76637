"""Queue management: enqueue one and in bulk (COPY), status counts, cleanup, health."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from reference_system.queue import (
    claims,
    cleanup_completed,
    enqueue,
    enqueue_bulk,
    health,
    migrate,
    status_counts,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def queue(pg_schema: str) -> Iterator[psycopg.Connection]:
    conn = psycopg.connect(pg_schema, autocommit=True)
    migrate(conn)
    yield conn
    conn.close()


def test_enqueue_one_and_bulk_keep_order_and_payload(queue: psycopg.Connection) -> None:
    first = enqueue(queue, {"kind": "one"})
    assert enqueue_bulk(queue, ({"i": i, "text": "x\ty\n\\"} for i in range(1000))) == 1000
    rows = queue.execute("SELECT id, payload FROM queue_records ORDER BY id").fetchall()
    assert rows[0] == (first, {"kind": "one"})
    assert [r[1]["i"] for r in rows[1:]] == list(range(1000))
    assert rows[1][1]["text"] == "x\ty\n\\"  # COPY escaping survives a round trip
    assert status_counts(queue) == {"pending": 1001, "processing": 0, "completed": 0, "failed": 0}


def test_status_counts_and_cleanup_of_completed(queue: psycopg.Connection) -> None:
    enqueue_bulk(queue, ({"i": i} for i in range(30)))
    claims.register(queue, "p1", "host", 1)
    batch = claims.claim(queue, "p1", 20)
    outcomes = [claims.Outcome(r, ok=r.id % 2 == 0, error="odd") for r in batch[:10]]
    assert claims.settle(queue, "p1", outcomes) == (5, 5)
    counts = status_counts(queue)
    assert counts == {"pending": 15, "processing": 10, "completed": 5, "failed": 0}
    assert cleanup_completed(queue, older_than_s=3600) == 0  # too young
    assert cleanup_completed(queue, older_than_s=0, batch=2) == 5
    assert status_counts(queue)["completed"] == 0
    assert status_counts(queue, queue="other") == dict.fromkeys(counts, 0)


def test_health_reports_counts_lag_and_processors(queue: psycopg.Connection) -> None:
    dsn = queue.info.dsn
    enqueue_bulk(queue, [{"i": 1}, {"i": 2}])
    queue.execute("UPDATE queue_records SET run_after = now() - interval '30 seconds'")
    claims.register(queue, "alive", "h", 10)
    claims.register(queue, "silent", "h", 11)
    queue.execute(
        "UPDATE queue_processors SET heartbeat_at = now() - interval '1 hour'"
        " WHERE instance_id = 'silent'"
    )
    report = health(lambda: psycopg.connect(dsn), stale_after_s=10)
    assert report.database_ok and report.error == ""
    assert report.counts["pending"] == 2
    assert 29 <= report.lag_s < 600
    alive = {p["instance_id"]: p["alive"] for p in report.processors}
    assert alive == {"alive": True, "silent": False}


def test_health_of_an_unreachable_database_is_a_report_not_an_exception() -> None:
    report = health(
        lambda: psycopg.connect("postgresql://postgres@127.0.0.1:1/x", connect_timeout=2)
    )
    assert not report.database_ok
    assert report.error and "\n" not in report.error


def test_queue_command_line_enqueues_reports_and_refuses_bad_json(
    pg_schema: str, tmp_path: Path
) -> None:
    def queue_cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "reference_system.queue", "--dsn", pg_schema, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)

    assert queue_cli("migrate").returncode == 0
    records = tmp_path / "records.jsonl"
    records.write_text('{"a": 1}\n\n{"b": 2}\n')
    assert queue_cli("enqueue", '{"x": 1}', "--file", str(records)).returncode == 0
    status = queue_cli("status")
    assert json.loads(status.stdout) == {"pending": 3, "processing": 0, "completed": 0, "failed": 0}
    bad = queue_cli("enqueue", "{oops")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "argument 1: not JSON" in bad.stderr


def test_health_carries_the_pool_figures(queue: psycopg.Connection) -> None:
    from psycopg_pool import ConnectionPool

    from reference_system.infra import psycopg_pool_stats

    with ConnectionPool(queue.info.dsn, min_size=2, max_size=4, open=True) as pool:
        pool.wait(timeout=30)
        with pool.connection():
            report = health(pool.connection, pool=pool)
            stats = psycopg_pool_stats(pool)
    assert report.database_ok
    assert report.pool["pool_min"] == 2 and report.pool["pool_max"] == 4
    assert stats.size == 4 and stats.checked_out >= 1 and stats.created >= 2
