"""Claiming, completing, failing, releasing and reclaiming records.

Every function takes a psycopg connection and runs one transaction, so a
caller can retry it after a lost connection: each is written so that
running it again after an ambiguous commit does no harm.

The protocol that keeps "processed exactly once" true:

- a claim locks the oldest pending rows with ``FOR UPDATE SKIP LOCKED`` and
  stamps them with the processor's instance id and a fresh ``claim_id``;
- a completion writes the result and flips the status in one transaction,
  and only for rows that still carry that ``claim_id`` (the fence): a
  processor whose claims were reclaimed while it was paused or cut off
  finds its completion refused and drops the work;
- a processor's liveness is the heartbeat of its ``queue_processors`` row;
  claims of a processor silent for longer than ``stale_after`` go back to
  ``pending``.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from reference_system import bugs


def _planted(name: str) -> bool:
    """``bugs.enabled(name)``, with a fast path for the usual case of no bugs at all.

    Asked on every claim and settlement; parsing the variable each time cost
    more than building the statement.
    """
    return bool(os.environ.get(bugs.BUGS_ENV)) and bugs.enabled(name)


# Claimed and Outcome are NamedTuples, not frozen dataclasses: two are made
# per record, and a frozen dataclass took 1.6 us to build against 0.4 us
# (a tenth of a processor's CPU per record at batch 100). Immutable either way.
class Claimed(NamedTuple):
    """One claimed record."""

    id: int
    payload: str  # the JSON text as stored (jsonb's canonical form); decode it if you need it
    attempt: int  # 1 on the first claim
    max_attempts: int
    claim_id: int


class Outcome(NamedTuple):
    """How processing one claimed record went."""

    record: Claimed
    ok: bool
    output: str = ""
    error: str = ""


# The locking subquery is a MATERIALIZED CTE, run exactly once. Written as
# ``WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`` the planner may
# rescan it once per outer row, and each rescan skips the rows the last one
# locked: seen here with 8 processors at batch 100, one claim ran for minutes
# locking row after row, and every settlement queued behind it.
#
# The batch size is written into the statement (see ``_claim_sql``), not
# bound: with ``LIMIT $n`` PostgreSQL cannot trust a generic plan and
# re-plans the prepared claim on every execution (custom plans only, seen in
# pg_prepared_statements); with a literal it settles on the generic plan
# (the same index walk) after five runs, which saves the planning: 0.1 ms of
# a 0.9 ms claim of 100 (EXPLAIN ANALYZE, 40,000 pending).
_CLAIM_SQL = """
WITH picked AS MATERIALIZED (
    SELECT id FROM queue_records
     WHERE status = 'pending' AND queue = %(queue)s AND run_after <= now()
     ORDER BY id
     LIMIT {n}
       FOR UPDATE SKIP LOCKED),
c AS MATERIALIZED (SELECT nextval('queue_claim_seq') AS claim_id)
UPDATE queue_records AS r
   SET status = 'processing', claimed_by = %(me)s, claim_id = c.claim_id,
       claimed_at = now(), attempts = r.attempts + 1
  FROM picked, c
 WHERE r.id = picked.id
RETURNING r.id, r.payload::text, r.attempts, r.max_attempts, r.claim_id
"""

# The planted "double-claim": read the candidates, then update them, with no
# row lock and no second look at their status. Two processors that read at
# the same moment both take the same records.
_BUGGY_SELECT_SQL = """
SELECT id FROM queue_records
 WHERE status = 'pending' AND queue = %(queue)s AND run_after <= now()
 ORDER BY id LIMIT %(n)s
"""
_BUGGY_UPDATE_SQL = """
UPDATE queue_records AS r
   SET status = 'processing', claimed_by = %(me)s, claim_id = c.claim_id,
       claimed_at = now(), attempts = r.attempts + 1
  FROM (SELECT nextval('queue_claim_seq') AS claim_id) AS c
 WHERE r.id = ANY(%(ids)s)
RETURNING r.id, r.payload::text, r.attempts, r.max_attempts, r.claim_id
"""


_claim_sqls: dict[int, str] = {}


def _claim_sql(n: int) -> str:
    """The claim statement for batches of ``n`` (one text per size: one prepared statement)."""
    sql = _claim_sqls.get(n)
    if sql is None:
        sql = _claim_sqls[n] = _CLAIM_SQL.format(n=int(n))  # int(): never text in SQL
    return sql


def claim(conn: Any, instance_id: str, n: int, queue: str = "default") -> list[Claimed]:
    """Claim up to ``n`` of the oldest due pending records (FIFO by id)."""
    params = {"me": instance_id, "queue": queue, "n": n}
    if _planted("double-claim"):
        with conn.transaction():
            ids = [row[0] for row in conn.execute(_BUGGY_SELECT_SQL, params)]
            if not ids:
                return []
            rows = conn.execute(_BUGGY_UPDATE_SQL, {**params, "ids": ids}).fetchall()
    else:
        # One statement: atomic on its own, and one round trip.
        rows = conn.execute(_claim_sql(n), params).fetchall()
        _commit(conn)
    rows.sort(key=lambda row: row[0])  # RETURNING order is not promised
    return [Claimed._make(r) for r in rows]


# The usual case, a claim whose records all succeeded, has a leaner
# statement: no failure branch, the outcome list unnested once, and the
# completed count is the number of result rows inserted. With the general
# statement below a batch of 100 cost 1.9 ms of server and 0.9 ms of client
# CPU; with this one 1.6 ms and 0.6 ms. The arrays go over in binary
# (``%(..)b``): dumping a text array as text quotes every element through
# a regular expression, a third of the client's settlement cost.
_COMPLETE_SQL = """
WITH done AS (
    UPDATE queue_records AS r
       SET status = 'completed', completed_at = now(), last_error = NULL, claim_id = NULL
     WHERE r.id = ANY(%(ids)b) {fence}
 RETURNING r.id, r.attempts)
INSERT INTO queue_results (record_id, instance_id, claim_id, attempt, output)
SELECT done.id, %(me)s, %(claim)s, done.attempts, d.text
  FROM done JOIN unnest(%(ids)b::bigint[], %(texts)b::text[]) AS d(id, text) ON d.id = done.id
"""

# One statement per claim. The rows are found by primary key and fenced by
# the claim's id alone: ``claim_id`` is set exactly while a record is
# ``processing`` (every way out of it clears it), so no status test is
# needed, and without one the planner cannot be tempted into scanning the
# partial index of processing rows (dead entries and all) instead of the
# primary key. A join against the outcome list would cost three times as
# much (it hashes every processing row).
_SETTLE_SQL = """
WITH d AS (
    SELECT * FROM unnest(%(ids)b::bigint[], %(texts)b::text[]) AS d(id, text)),
done AS (
    UPDATE queue_records AS r
       SET status = 'completed', completed_at = now(), last_error = NULL, claim_id = NULL
     WHERE r.id = ANY(%(ok_ids)b) {fence}
 RETURNING r.id, r.attempts),
results AS (
    INSERT INTO queue_results (record_id, instance_id, claim_id, attempt, output)
    SELECT done.id, %(me)s, %(claim)s, done.attempts, d.text FROM done JOIN d ON d.id = done.id),
bad AS (
    UPDATE queue_records AS r
       SET status = CASE WHEN {limit} THEN 'failed' ELSE 'pending' END,
           run_after = now() + make_interval(secs => least(
               %(cap)s, %(base)s * power(2, greatest(r.attempts - 1, 0)))),
           last_error = (SELECT d.text FROM d WHERE d.id = r.id),
           claimed_by = NULL, claim_id = NULL
     WHERE r.id = ANY(%(bad_ids)b) AND r.claim_id = %(claim)s
 RETURNING r.id),
counts AS (SELECT (SELECT count(*) FROM done) AS completed, (SELECT count(*) FROM bad) AS failed)
SELECT completed, failed FROM counts
"""


def settle(
    conn: Any,
    instance_id: str,
    outcomes: list[Outcome],
    backoff_base_s: float = 0.5,
    backoff_cap_s: float = 60.0,
) -> tuple[int, int]:
    """Record a batch's outcomes; returns (completed, failed).

    Successes are completed and their results written; failures go back to
    ``pending`` after an exponential backoff, or to ``failed`` once they have
    used ``max_attempts``. Rows whose claim is no longer ours are skipped.
    One statement (one transaction, one round trip) per claim in the batch.
    """
    # The buggy protocol has no fence either: it completes whatever ids it
    # processed, so a record taken twice is completed twice.
    fence = "" if _planted("double-claim") else "AND r.claim_id = %(claim)s"
    # retry-forever: the limit is never consulted.
    limit = "false" if _planted("retry-forever") else "r.attempts >= r.max_attempts"
    by_claim: dict[int, list[Outcome]] = {}
    for o in outcomes:
        by_claim.setdefault(o.record.claim_id, []).append(o)
    completed = failed = 0
    for claim_id, group in by_claim.items():
        if all(o.ok for o in group):
            params = {
                "ids": [o.record.id for o in group],
                "texts": [o.output for o in group],
                "claim": claim_id,
                "me": instance_id,
            }
            cur = conn.execute(_COMPLETE_SQL.format(fence=fence), params)
            _commit(conn)
            completed += int(cur.rowcount)
            continue
        params = {
            "ids": [o.record.id for o in group],
            "texts": [o.output if o.ok else o.error[:1000] for o in group],
            "ok_ids": [o.record.id for o in group if o.ok],
            "bad_ids": [o.record.id for o in group if not o.ok],
            "claim": claim_id,
            "me": instance_id,
            "base": backoff_base_s,
            "cap": backoff_cap_s,
        }
        row = conn.execute(_SETTLE_SQL.format(fence=fence, limit=limit), params).fetchone()
        _commit(conn)
        completed += int(row[0])
        failed += int(row[1])
    return completed, failed


def _commit(conn: Any) -> None:
    """Outside autocommit a statement opened a transaction: end it."""
    if not conn.autocommit:
        conn.commit()


def release(conn: Any, instance_id: str, records: list[Claimed] | None = None) -> int:
    """Give claims back without using an attempt: the named ones, or all of ours."""
    with conn.transaction():
        if records is None:
            cur = conn.execute(
                "UPDATE queue_records SET status = 'pending', claimed_by = NULL, claim_id = NULL,"
                " attempts = greatest(attempts - 1, 0)"
                " WHERE claimed_by = %s AND status = 'processing'",
                (instance_id,),
            )
        else:
            cur = conn.execute(
                "UPDATE queue_records AS r SET status = 'pending', claimed_by = NULL,"
                " claim_id = NULL, attempts = greatest(r.attempts - 1, 0)"
                " FROM unnest(%s::bigint[], %s::bigint[]) AS d(id, claim_id)"
                " WHERE r.id = d.id AND r.claim_id = d.claim_id AND r.status = 'processing'",
                ([r.id for r in records], [r.claim_id for r in records]),
            )
        return int(cur.rowcount)


def release_unknown(conn: Any, instance_id: str, held: list[Claimed]) -> int:
    """Release our claims that we do not know we hold.

    After a connection died during a claim we cannot tell whether the claim
    committed; if it did, the rows carry our id but nobody works on them
    (and our heartbeat keeps them from being reclaimed). Called on recovery.
    """
    with conn.transaction():
        cur = conn.execute(
            "UPDATE queue_records SET status = 'pending', claimed_by = NULL, claim_id = NULL,"
            " attempts = greatest(attempts - 1, 0)"
            " WHERE claimed_by = %s AND status = 'processing' AND NOT (claim_id = ANY(%s))",
            (instance_id, [r.claim_id for r in held]),
        )
        return int(cur.rowcount)


def register(conn: Any, instance_id: str, host: str, pid: int, info: str = "{}") -> None:
    """Announce a processor instance (or revive its row); starts its heartbeat."""
    with conn.transaction():
        conn.execute(
            """
            INSERT INTO queue_processors (instance_id, host, pid, info) VALUES (%s, %s, %s, %s)
            ON CONFLICT (instance_id) DO UPDATE
               SET heartbeat_at = now(), state = 'running', info = excluded.info
            """,
            (instance_id, host, pid, info),
        )


def heartbeat(
    conn: Any, instance_id: str, info: str | None = None, counts: tuple[int, int] | None = None
) -> bool:
    """Prove this instance is alive; False if its row is gone.

    ``counts`` (completed, failed so far) are published here rather than on
    every settlement: one row update a second instead of one per batch.
    """
    sets = ["heartbeat_at = now()", "state = 'running'"]
    params: list[Any] = []
    if info is not None:
        sets.append("info = %s")
        params.append(info)
    if counts is not None:
        sets.append("processed = %s, failed = %s")
        params += list(counts)
    cur = conn.execute(
        f"UPDATE queue_processors SET {', '.join(sets)} WHERE instance_id = %s",
        [*params, instance_id],
    )
    _commit(conn)
    return bool(cur.rowcount)


def set_state(conn: Any, instance_id: str, state: str) -> None:
    """Mark an instance ``running``, ``stopping`` or ``stopped``."""
    with conn.transaction():
        conn.execute(
            "UPDATE queue_processors SET state = %s, heartbeat_at = now() WHERE instance_id = %s",
            (state, instance_id),
        )


def reclaim_orphans(conn: Any, stale_after_s: float) -> int:
    """Put back claims of processors whose heartbeat is older than ``stale_after_s``.

    A claim that already used its last attempt is marked ``failed`` instead:
    a record that crashes every processor that takes it must stop somewhere.
    """
    if _planted("lost-on-crash"):
        return 0  # the planted bug: nobody ever looks for orphans
    with conn.transaction():
        cur = conn.execute(
            """
            WITH dead AS (
                SELECT instance_id FROM queue_processors
                 WHERE heartbeat_at < now() - make_interval(secs => %(stale)s)),
            orphans AS MATERIALIZED (
                SELECT r.id FROM queue_records AS r
                 WHERE r.status = 'processing'
                   AND (r.claimed_by IN (SELECT instance_id FROM dead)
                        OR NOT EXISTS (SELECT 1 FROM queue_processors AS p
                                        WHERE p.instance_id = r.claimed_by))
                 FOR UPDATE SKIP LOCKED)
            UPDATE queue_records AS r
               SET status = CASE WHEN r.attempts >= r.max_attempts THEN 'failed' ELSE 'pending' END,
                   last_error = coalesce(r.last_error, 'claim orphaned by ' || r.claimed_by),
                   claimed_by = NULL, claim_id = NULL
              FROM orphans WHERE r.id = orphans.id
            """,
            {"stale": stale_after_s},
        )
        return int(cur.rowcount)
