"""PostgreSQL's isolation levels, proven with the list-append transaction checker.

Many clients run short transactions of reads and appends over a few hot keys
(one row per key holding an integer array) against the real PostgreSQL the
lab starts. The history goes to ``<run dir>/tests/<test>/history.jsonl``
(``distlab check --model list-append FILE`` explains it) and is judged
against what PostgreSQL documents for each level:

- SERIALIZABLE: no anomaly at all (serialization failures are ``fail``);
- REPEATABLE READ is snapshot isolation: write skew (G2-item) happens, and
  nothing snapshot isolation forbids (G0, G1, G-single);
- READ COMMITTED: G-single or G2-item happens, and nothing read committed
  forbids (G0, G1).

The workload is seeded from the run's root seed; its size and key count are
chosen so the expected anomalies appear in every run (see docs/checkers.md
for the measured rate).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import IsolationLevel, errors

from distlab.checkers.transactions import TxnResult, check_transactions
from distlab.checkers.txn import ListAppend
from distlab.seeds import rng
from distlab.workload.client import Completion
from distlab.workload.ops import Operation
from distlab.workload.recorder import HistoryRecorder

pytestmark = pytest.mark.distributed

KEYS = 4  # few keys: every transaction contends with most others
CLIENTS = 10
TXNS_PER_CLIENT = 60
# PostgreSQL rolled these back: the transaction did not happen.
ABORTED = (errors.SerializationFailure, errors.DeadlockDetected)


@pytest.fixture
def lists(pg_schema: str) -> Iterator[str]:
    """A table of one integer list per key, every list empty (the initial state)."""
    with psycopg.connect(pg_schema, autocommit=True) as conn:
        conn.execute("CREATE TABLE lists (k int PRIMARY KEY, vals int[] NOT NULL)")
        conn.execute(
            "INSERT INTO lists SELECT k, '{}' FROM generate_series(0, %s) AS k", (KEYS - 1,)
        )
    yield pg_schema


def _transaction(r: Any, values: Iterator[int]) -> list[list[Any]]:
    """2-4 micro-ops, reads and appends over the hot keys.

    The appends of one transaction go to their keys in ascending order, so
    their row locks are always taken in one order and never deadlock (a
    deadlock costs a second of PostgreSQL's deadlock_timeout).
    """
    mops = [
        ["append", r.randrange(KEYS), next(values)]
        if r.random() < 0.5
        else ["r", r.randrange(KEYS), None]
        for _ in range(r.randint(2, 4))
    ]
    at = [i for i, m in enumerate(mops) if m[0] == "append"]
    for i, m in zip(at, sorted((mops[i] for i in at), key=lambda m: m[1]), strict=True):
        mops[i] = m
    return mops


def _run(conn: psycopg.Connection, mops: list[list[Any]]) -> list[list[Any]]:
    done = []
    with conn.transaction():
        for f, k, v in mops:
            if f == "r":
                row = conn.execute("SELECT vals FROM lists WHERE k = %s", (k,)).fetchone()
                done.append(["r", k, list(row[0]) if row else []])
            else:
                conn.execute("UPDATE lists SET vals = vals || %s::int WHERE k = %s", (v, k))
                done.append([f, k, v])
    return done


def _client(
    dsn: str,
    level: IsolationLevel,
    process: int,
    seed: int,
    values: Iterator[int],
    lock: threading.Lock,
    history: HistoryRecorder,
    errors_seen: list[str],
) -> None:
    r = rng(seed, f"pg-isolation-client-{process}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.isolation_level = level
        for _ in range(TXNS_PER_CLIENT):
            with lock:
                mops = _transaction(r, values)
            inflight = history.invoke(Operation(process, "txn", None, mops))
            try:
                completion = Completion("ok", _run(conn, mops))
            except ABORTED as e:
                completion = Completion("fail", None, type(e).__name__)
            except psycopg.Error as e:  # the outcome is unknown: it may have committed
                completion = Completion("info", None, f"{type(e).__name__}: {e}")
                errors_seen.append(completion.error)
            history.complete(inflight, completion)


def _workload(dsn: str, level: IsolationLevel, seed: int, history: HistoryRecorder) -> TxnResult:
    values = itertools.count(1)  # unique appended values, handed out under the lock
    lock = threading.Lock()
    errors_seen: list[str] = []
    threads = [
        threading.Thread(
            target=_client,
            args=(dsn, level, p, seed, values, lock, history, errors_seen),
            name=f"pg-client-{p}",
        )
        for p in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors_seen, f"unexpected database errors: {errors_seen[:3]}"
    model = ListAppend()
    return check_transactions(history.history(model), model, "serializable")


def _committed_enough(result: TxnResult) -> None:
    # An anomaly-free history of nothing proves nothing.
    assert result.committed >= CLIENTS * TXNS_PER_CLIENT // 4, result.summary()


def test_serializable_shows_no_anomaly(
    lists: str, root_seed: int, history: HistoryRecorder
) -> None:
    result = _workload(lists, IsolationLevel.SERIALIZABLE, root_seed, history)
    _committed_enough(result)
    assert result.anomalies == [], result.report()


def test_repeatable_read_is_snapshot_isolation_with_write_skew(
    lists: str, root_seed: int, history: HistoryRecorder
) -> None:
    result = _workload(lists, IsolationLevel.REPEATABLE_READ, root_seed, history)
    _committed_enough(result)
    kinds = set(result.kinds())
    assert not kinds & {
        "G0",
        "G1a",
        "G1b",
        "G1c",
        "G-single",
        "internal",
        "incompatible-order",
        "garbage-read",
        "duplicate-elements",
    }, result.report()
    assert "G2-item" in kinds, result.summary()


def test_read_committed_shows_g_single_or_g2_but_nothing_it_forbids(
    lists: str, root_seed: int, history: HistoryRecorder
) -> None:
    result = _workload(lists, IsolationLevel.READ_COMMITTED, root_seed, history)
    _committed_enough(result)
    kinds = set(result.kinds())
    assert not kinds & {
        "G0",
        "G1a",
        "G1b",
        "G1c",
        "internal",
        "incompatible-order",
        "garbage-read",
        "duplicate-elements",
    }, result.report()
    assert kinds & {"G-single", "G2-item"}, result.summary()
