"""The claims protocol one step at a time: FIFO claims, the completion fence,
retries with backoff and a limit, release, and orphan reclaim."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from reference_system.queue import claims, enqueue, enqueue_bulk, migrate, status_counts

pytestmark = pytest.mark.unit


@pytest.fixture
def queue(pg_schema: str) -> Iterator[psycopg.Connection]:
    conn = psycopg.connect(pg_schema, autocommit=True)
    migrate(conn)
    for name in ("p1", "p2"):
        claims.register(conn, name, "host", 1)
    yield conn
    conn.close()


def _status(conn: psycopg.Connection, record_id: int) -> tuple[str, int, str | None]:
    row = conn.execute(
        "SELECT status, attempts, claimed_by FROM queue_records WHERE id = %s", (record_id,)
    ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def test_claims_are_fifo_and_disjoint(queue: psycopg.Connection) -> None:
    ids = [enqueue(queue, {"i": i}) for i in range(25)]
    first = claims.claim(queue, "p1", 10)
    second = claims.claim(queue, "p2", 10)
    assert [r.id for r in first] == ids[:10]
    assert [r.id for r in second] == ids[10:20]
    assert {r.claim_id for r in first}.isdisjoint({r.claim_id for r in second})
    assert all(r.attempt == 1 for r in first + second)
    assert status_counts(queue)["processing"] == 20


def test_completion_writes_one_result_and_is_fenced(queue: psycopg.Connection) -> None:
    rid = enqueue(queue, {"x": 1})
    (rec,) = claims.claim(queue, "p1", 1)
    assert claims.settle(queue, "p1", [claims.Outcome(rec, True, output="done")]) == (1, 0)
    # Settling again (a retry after an ambiguous commit) changes nothing.
    assert claims.settle(queue, "p1", [claims.Outcome(rec, True, output="done")]) == (0, 0)
    results = queue.execute(
        "SELECT record_id, instance_id, attempt, output FROM queue_results"
    ).fetchall()
    assert results == [(rid, "p1", 1, "done")]
    assert _status(queue, rid)[0] == "completed"


def test_a_reclaimed_claim_cannot_be_completed_by_its_old_owner(queue: psycopg.Connection) -> None:
    rid = enqueue(queue, {"x": 1})
    (stale,) = claims.claim(queue, "p1", 1)
    queue.execute(
        "UPDATE queue_processors SET heartbeat_at = now() - interval '1 hour'"
        " WHERE instance_id = 'p1'"
    )
    assert claims.reclaim_orphans(queue, stale_after_s=5) == 1
    (fresh,) = claims.claim(queue, "p2", 1)
    assert fresh.id == rid and fresh.attempt == 2
    # p1 wakes up and tries to finish: refused; p2 finishes.
    assert claims.settle(queue, "p1", [claims.Outcome(stale, True)]) == (0, 0)
    assert claims.settle(queue, "p2", [claims.Outcome(fresh, True)]) == (1, 0)
    count = queue.execute("SELECT count(*) FROM queue_results WHERE record_id = %s", (rid,))
    assert count.fetchone() == (1,)


def test_claims_of_a_live_processor_are_not_reclaimed(queue: psycopg.Connection) -> None:
    enqueue_bulk(queue, [{"i": 1}, {"i": 2}])
    claims.claim(queue, "p1", 2)
    assert claims.heartbeat(queue, "p1")
    assert claims.reclaim_orphans(queue, stale_after_s=5) == 0
    assert status_counts(queue)["processing"] == 2


def test_orphans_of_a_crashed_processor_go_back_to_pending(queue: psycopg.Connection) -> None:
    ids = enqueue_bulk(queue, ({"i": i} for i in range(5)))
    assert ids == 5
    claims.claim(queue, "p1", 5)
    queue.execute(
        "UPDATE queue_processors SET heartbeat_at = now() - interval '1 hour'"
        " WHERE instance_id = 'p1'"
    )
    assert claims.reclaim_orphans(queue, stale_after_s=5) == 5
    counts = status_counts(queue)
    assert counts["pending"] == 5 and counts["processing"] == 0
    again = claims.claim(queue, "p2", 10)
    assert len(again) == 5 and all(r.attempt == 2 for r in again)


def test_an_orphan_on_its_last_attempt_is_failed_not_retried(queue: psycopg.Connection) -> None:
    rid = enqueue(queue, {"crashes": True}, max_attempts=1)
    claims.claim(queue, "p1", 1)
    queue.execute("UPDATE queue_processors SET heartbeat_at = now() - interval '1 hour'")
    assert claims.reclaim_orphans(queue, stale_after_s=5) == 1
    assert _status(queue, rid)[0] == "failed"


def test_failures_back_off_exponentially_then_stop_at_the_limit(queue: psycopg.Connection) -> None:
    rid = enqueue(queue, {"fail": True}, max_attempts=3)
    delays = []
    for attempt in (1, 2, 3):
        queue.execute("UPDATE queue_records SET run_after = now() WHERE status = 'pending'")
        (rec,) = claims.claim(queue, "p1", 1)
        assert rec.attempt == attempt
        assert claims.settle(queue, "p1", [claims.Outcome(rec, False, error=f"e{attempt}")]) == (
            0,
            1,
        )
        row = queue.execute(
            "SELECT status, extract(epoch FROM run_after - now()), last_error"
            " FROM queue_records WHERE id = %s",
            (rid,),
        ).fetchone()
        assert row is not None and row[2] == f"e{attempt}"
        delays.append(float(row[1]))
        expected = "failed" if attempt == 3 else "pending"
        assert row[0] == expected, f"attempt {attempt} of 3 left the record {row[0]}"
    # base 0.5 s doubling: about 0.5, 1.0 (the third is the final failure).
    assert 0.3 < delays[0] < 0.6 and 0.8 < delays[1] < 1.1
    assert claims.claim(queue, "p1", 1) == []


def test_a_record_is_not_claimed_before_its_backoff_is_over(queue: psycopg.Connection) -> None:
    enqueue(queue, {"later": True}, delay_s=3600)
    now_id = enqueue(queue, {"now": True})
    assert [r.id for r in claims.claim(queue, "p1", 10)] == [now_id]


def test_release_gives_claims_back_without_using_an_attempt(queue: psycopg.Connection) -> None:
    enqueue_bulk(queue, ({"i": i} for i in range(4)))
    batch = claims.claim(queue, "p1", 4)
    assert claims.release(queue, "p1", batch[:2]) == 2
    assert claims.release(queue, "p2") == 0  # not p2's
    assert claims.release(queue, "p1") == 2
    again = claims.claim(queue, "p2", 4)
    assert [r.attempt for r in again] == [1, 1, 1, 1]


def test_release_unknown_frees_claims_lost_to_an_ambiguous_commit(
    queue: psycopg.Connection,
) -> None:
    enqueue_bulk(queue, ({"i": i} for i in range(6)))
    lost = claims.claim(queue, "p1", 3)  # committed, but say the answer never arrived
    held = claims.claim(queue, "p1", 3)
    assert claims.release_unknown(queue, "p1", held) == len(lost)
    assert status_counts(queue) == {"pending": 3, "processing": 3, "completed": 0, "failed": 0}
