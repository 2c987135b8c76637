"""Queue schema: idempotent migrations (also when racing) and the partial index
that claims use."""

from __future__ import annotations

import threading

import psycopg
import pytest

from reference_system.queue import LATEST, claims, enqueue_bulk, migrate, schema_version
from reference_system.queue.schema import MIGRATIONS

pytestmark = pytest.mark.unit


def test_migrate_is_idempotent(pg_schema: str) -> None:
    with psycopg.connect(pg_schema, autocommit=True) as conn:
        assert schema_version(conn) == 0
        assert migrate(conn) == len(MIGRATIONS)
        assert migrate(conn) == 0
        assert schema_version(conn) == LATEST
        names = [r[0] for r in conn.execute("SELECT name FROM queue_schema_version ORDER BY 1")]
        assert len(names) == len(MIGRATIONS)


def test_racing_migrations_apply_each_step_once(pg_schema: str) -> None:
    applied: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run() -> None:
        try:
            with psycopg.connect(pg_schema, autocommit=True) as conn:
                start.wait()
                applied.append(migrate(conn))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(applied) == [0, 0, 0, len(MIGRATIONS)]


def test_claims_use_the_partial_index_on_pending(pg_schema: str) -> None:
    with psycopg.connect(pg_schema, autocommit=True) as conn:
        migrate(conn)
        enqueue_bulk(conn, ({"i": i} for i in range(5000)))
        # Most of the table is done: the case the partial index is for.
        conn.execute("UPDATE queue_records SET status = 'completed' WHERE id <= 4900")
        conn.execute("ANALYZE queue_records")
        # The claim statement itself, as processors send it.
        params = {"me": "p1", "queue": "default", "n": 100}
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + claims._claim_sql(100), params))
        indexes = [
            r[0]
            for r in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'queue_records_pending'"
            )
        ]
    assert indexes and "WHERE (status = 'pending'::text)" in indexes[0]
    assert "queue_records_pending" in plan, plan
