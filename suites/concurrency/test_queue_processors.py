"""Queue processors as real processes racing over one PostgreSQL queue.

Each test checks the queue's promise from the database afterwards: every
record completed, and exactly one result per record (a record processed
twice leaves two). Processors are started with ``distlab.proc.spawn`` so they
die with the test run, and are always stopped in ``finally``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from distlab import proc
from distlab.net import DATABASE, Network
from distlab.pg import Postgres
from reference_system.queue import enqueue_bulk, migrate, status_counts

pytestmark = pytest.mark.concurrency

FAST = [
    *("--heartbeat", "0.3", "--stale-after", "2", "--poll", "0.05"),
    *("--backoff-base", "0.05", "--db-timeout", "2"),
]


class Fleet:
    """Processor processes on one queue; each one's stdout (its tally) and stderr kept."""

    def __init__(self, dsn: str, run_dir: Path, name: str) -> None:
        self.dsn = dsn
        self.dir = run_dir / f"processors-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []
        self._files: list[Any] = []

    def start(self, *args: str, dsn: str | None = None) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        out = open(self.dir / f"p{n}.out", "wb")  # noqa: SIM115 -- closed in close()
        err = open(self.dir / f"p{n}.err", "wb")  # noqa: SIM115
        self._files += [out, err]
        argv = [sys.executable, "-m", "reference_system.processor", "--dsn", dsn or self.dsn]
        p = proc.spawn(
            [*argv, "--instance-id", f"p{n}", *FAST, *args],
            stdout=out,
            stderr=err,
            label=f"processor-p{n}",
        )
        self.procs.append(p)
        return p

    def start_many(self, count: int, *args: str) -> None:
        for _ in range(count):
            self.start(*args)

    def wait_all(self, timeout_s: float) -> list[int | None]:
        deadline = time.monotonic() + timeout_s
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        return [p.poll() for p in self.procs]

    def tallies(self) -> list[dict[str, Any]]:
        found = []
        for i in range(len(self.procs)):
            lines = (self.dir / f"p{i}.out").read_text().strip().splitlines()
            if lines:
                found.append(json.loads(lines[-1]))
        return found

    def stderr(self, i: int) -> str:
        return (self.dir / f"p{i}.err").read_text()[-2000:]

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                proc.kill_group(p)
                p.wait()
        for f in self._files:
            f.close()


@pytest.fixture
def fleet(pg_schema: str, distlab_run_dir: Path, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    with psycopg.connect(pg_schema, autocommit=True) as conn:
        migrate(conn)
    f = Fleet(pg_schema, distlab_run_dir, request.node.name)
    try:
        yield f
    finally:
        f.close()


def wait_for(what: str, check: Callable[[], Any], timeout_s: float) -> Any:
    """Poll ``check`` until truthy; fail naming ``what`` and the last value seen."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}; last: {last!r}")


def counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return status_counts(conn)


def assert_exactly_once(dsn: str, total: int) -> None:
    """Every record completed, with exactly one result each."""
    with psycopg.connect(dsn) as conn:
        assert status_counts(conn) == {
            "pending": 0,
            "processing": 0,
            "completed": total,
            "failed": 0,
        }
        twice = conn.execute(
            "SELECT record_id, count(*) FROM queue_results GROUP BY record_id"
            " HAVING count(*) > 1 ORDER BY record_id LIMIT 5"
        ).fetchall()
        row = conn.execute("SELECT count(*), count(DISTINCT record_id) FROM queue_results")
        results, distinct = row.fetchone() or (0, 0)
    assert not twice, f"records processed more than once (id, times): {twice}"
    assert (results, distinct) == (total, total)


def enqueue(dsn: str, payloads: list[Any]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        enqueue_bulk(conn, payloads)


def test_20_processors_complete_10000_records_exactly_once(fleet: Fleet, metric: Any) -> None:
    total = 10_000
    enqueue(fleet.dsn, [{"i": i} for i in range(total)])
    fleet.start_many(20, "--batch", "25", "--exit-when-empty")
    codes = fleet.wait_all(timeout_s=180)
    assert codes == [0] * 20, f"exit codes {codes}; first stderr: {fleet.stderr(0)}"
    assert_exactly_once(fleet.dsn, total)
    tallies = fleet.tallies()
    assert sum(t["completed"] for t in tallies) == total
    assert sum(1 for t in tallies if t["completed"] > 0) >= 2, "only one processor did any work"
    with psycopg.connect(fleet.dsn) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM max(completed_at) - min(claimed_at)) FROM queue_records"
        ).fetchone()
    if row and row[0]:
        metric("queue_records_per_s", total / float(row[0]), "records/s", processors=20, batch=25)


def test_claims_of_a_killed_processor_are_reclaimed_by_the_others(fleet: Fleet) -> None:
    total = 120
    enqueue(fleet.dsn, [{"i": i, "sleep_ms": 20} for i in range(total)])
    victim = fleet.start("--batch", "40")
    wait_for("the victim to hold claims", lambda: counts(fleet.dsn)["processing"] > 0, 30)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    fleet.start("--batch", "10", "--exit-when-empty")
    fleet.start("--batch", "10", "--exit-when-empty")
    wait_for(
        "every record to be completed after the crash",
        lambda: counts(fleet.dsn)["completed"] == total,
        timeout_s=40,
    )
    assert fleet.wait_all(30)[1:] == [0, 0]
    assert_exactly_once(fleet.dsn, total)


def test_sigterm_finishes_the_batch_in_hand_releases_the_rest_and_exits_0(fleet: Fleet) -> None:
    enqueue(fleet.dsn, [{"i": i, "sleep_ms": 100} for i in range(30)])
    p = fleet.start("--batch", "10")
    wait_for("a claimed batch", lambda: counts(fleet.dsn)["processing"] == 10, 30)
    p.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0
    (tally,) = fleet.tallies()
    after = counts(fleet.dsn)
    assert after["processing"] == 0, "a claim was kept after SIGTERM"
    assert after["completed"] == tally["completed"] >= 10  # the batch in hand was finished
    assert after["pending"] == 30 - after["completed"]
    with psycopg.connect(fleet.dsn) as conn:
        state = conn.execute("SELECT state FROM queue_processors").fetchone()
    assert state == ("stopped",)


def test_sigterm_past_its_grace_releases_unstarted_records(fleet: Fleet) -> None:
    enqueue(fleet.dsn, [{"i": i, "sleep_ms": 200} for i in range(10)])
    p = fleet.start("--batch", "10", "--term-grace", "0")
    wait_for("a claimed batch", lambda: counts(fleet.dsn)["processing"] == 10, 30)
    p.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0
    (tally,) = fleet.tallies()
    after = counts(fleet.dsn)
    assert tally["released"] > 0 and after["processing"] == 0
    assert after["completed"] + after["pending"] == 10
    with psycopg.connect(fleet.dsn) as conn:
        attempts = conn.execute(
            "SELECT max(attempts) FROM queue_records WHERE status = 'pending'"
        ).fetchone()
    assert attempts == (0,), "a released record was charged an attempt"


def test_poison_records_fail_after_their_retry_limit(fleet: Fleet) -> None:
    enqueue(fleet.dsn, [{"fail": True}, {"fail_times": 2}, {"i": 1}])
    fleet.start("--batch", "5")
    wait_for(
        "the poison record to be failed",
        lambda: counts(fleet.dsn)["failed"] == 1 and counts(fleet.dsn)["completed"] == 2,
        timeout_s=30,
    )
    with psycopg.connect(fleet.dsn) as conn:
        rows = conn.execute(
            "SELECT payload, status, attempts, last_error FROM queue_records ORDER BY id"
        ).fetchall()
    poison, flaky, fine = rows
    assert poison[1:3] == ("failed", 5) and "poison" in poison[3]
    assert flaky[1:3] == ("completed", 3)
    assert fine[1:3] == ("completed", 1)


def test_processors_ride_out_a_database_crash_and_restart(
    distlab_run_dir: Path, tmp_path: Path
) -> None:
    # A server of our own: the session's server is shared with other tests.
    with Postgres.start(run_dir=tmp_path, throwaway=True) as db:
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            migrate(conn)
        enqueue(db.dsn, [{"i": i, "sleep_ms": 1} for i in range(1000)])
        fleet = Fleet(db.dsn, distlab_run_dir, "db-crash")
        try:
            # No --exit-when-empty: the processors keep polling, so all of
            # them meet the outage whether or not their work ran out.
            fleet.start_many(4, "--batch", "20")
            wait_for("some progress", lambda: counts(db.dsn)["completed"] >= 200, 60)
            assert all(p.poll() is None for p in fleet.procs)
            db.kill()
            time.sleep(1.0)  # the outage itself: processors must back off and wait
            db.restart()
            enqueue(db.dsn, [{"i": i, "sleep_ms": 1} for i in range(1000, 1500)])
            wait_for(
                "every record completed after the restart",
                lambda: counts(db.dsn)["completed"] == 1500,
                timeout_s=90,
            )
            for p in fleet.procs:
                p.send_signal(signal.SIGTERM)
            codes = fleet.wait_all(timeout_s=30)
            assert codes == [0] * 4, f"exit codes {codes}; stderr: {fleet.stderr(0)}"
            assert_exactly_once(db.dsn, 1500)
        finally:
            fleet.close()


@pytest.mark.parametrize("mode", ["drop", "reject"])
def test_processors_cut_off_through_a_proxy_lose_and_duplicate_nothing(
    fleet: Fleet, pg: Postgres, distlab_run_dir: Path, mode: str
) -> None:
    total = 600
    enqueue(fleet.dsn, [{"i": i, "sleep_ms": 2} for i in range(total)])
    with Network.start(distlab_run_dir / f"net-queue-{mode}", in_process=True) as net:
        # p0 and p1 reach the database through proxies; p2 directly.
        for name in ("p0", "p1"):
            port = net.add_link(name, DATABASE, (pg.host, pg.port))
            fleet.start("--batch", "20", dsn=make_conninfo(fleet.dsn, host="127.0.0.1", port=port))
        fleet.start("--batch", "20")
        wait_for("some progress", lambda: counts(fleet.dsn)["completed"] >= 100, 60)
        for name in ("p0", "p1"):
            net.cut(name, DATABASE, mode=mode)
            net.cut(DATABASE, name, mode=mode)
        # Cut off for longer than --stale-after: p2 must reclaim what they held.
        wait_for(
            "the cut-off processors' claims to be reclaimed",
            lambda: _silent_claims(fleet.dsn) == 0,
            timeout_s=30,
        )
        net.heal()
        wait_for(
            "every record completed",
            lambda: counts(fleet.dsn)["completed"] == total,
            timeout_s=60,
        )
        for p in fleet.procs:
            p.send_signal(signal.SIGTERM)
        codes = fleet.wait_all(timeout_s=30)
    assert codes == [0, 0, 0], f"exit codes {codes}; stderr: {fleet.stderr(0)}"
    assert_exactly_once(fleet.dsn, total)


def _silent_claims(dsn: str) -> int:
    """Claims held by p0 and p1 (the processors behind the proxies)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM queue_records"
            " WHERE status = 'processing' AND claimed_by IN ('p0', 'p1')"
        ).fetchone()
    return int(row[0]) if row else 0
