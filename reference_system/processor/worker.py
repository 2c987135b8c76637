"""One queue processor: claim a batch, process it, settle it, repeat.

It owns a psycopg_pool connection pool, a heartbeat thread and a watchdog.
Every database step is retried with capped exponential backoff when the
database is killed, restarted or cut off; the queue protocol (see
``reference_system.queue.claims``) makes each retry safe, and after a
failure the processor releases claims it cannot know it holds.

The watchdog exists for a network that silently drops bytes: libpq would
wait for an answer forever, so a database call that takes longer than
``db_timeout_s`` has its socket shut down, which turns the hang into an
ordinary connection error.

SIGTERM (or SIGINT): finish the batch in hand (records not started within
``term_grace_s`` are released instead), give back every claim, mark the
instance stopped and exit 0.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from reference_system.infra import backoff
from reference_system.processor.work import WorkFailed, process
from reference_system.queue import claims
from reference_system.queue.schema import migrate

_DB_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)
#: the first wait after a database error; it doubles up to ``Options.reconnect_cap_s``
RETRY_BASE_S = 0.05


@dataclass
class Options:
    """How a processor behaves; the command line maps onto these one to one."""

    dsn: str
    instance_id: str = ""
    queue: str = "default"
    batch: int = 10
    poll_s: float = 0.2
    heartbeat_s: float = 1.0
    stale_after_s: float = 10.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 60.0
    reconnect_cap_s: float = 2.0
    term_grace_s: float = 10.0
    db_timeout_s: float = 10.0
    pool_size: int = 3
    exit_when_empty: bool = False
    max_batches: int = 0  # 0: no limit
    migrate: bool = True


@dataclass
class Tally:
    """What this instance did, printed as JSON when it exits."""

    instance_id: str
    claimed: int = 0
    completed: int = 0
    failed: int = 0
    released: int = 0
    fenced_off: int = 0  # processed, but the claim had been reclaimed meanwhile
    db_errors: int = 0
    batches: int = 0
    reclaimed: int = 0
    started: float = field(default_factory=time.time)


def default_instance_id() -> str:
    """host-pid-random: unique across hosts, restarts and pid reuse."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Processor:
    """A queue processor; ``run()`` blocks until stopped and returns an exit code."""

    def __init__(self, options: Options, work: Callable[[str, int], str] = process) -> None:
        self.opt = options
        self.me = options.instance_id or default_instance_id()
        self.work = work
        self.tally = Tally(self.me)
        self.stopping = threading.Event()
        self._closed = threading.Event()  # stops the watchdog, after the pool is closed
        self._stop_at = 0.0
        self._held: list[claims.Claimed] = []
        self._needs_recovery = False
        self._last_reclaim = 0.0
        self._in_flight: dict[int, tuple[Any, float]] = {}  # thread id -> (conn, started)
        self._watch_lock = threading.Lock()
        self.pool = ConnectionPool(
            options.dsn,
            min_size=1,
            max_size=max(2, options.pool_size),
            open=False,
            kwargs={"autocommit": True, "connect_timeout": 5},
            configure=self._configure,
            timeout=5.0,
            reconnect_timeout=3600.0,
            name=f"processor-{self.me}",
        )

    def _configure(self, conn: Any) -> None:
        # The server gives up on a statement the watchdog would cut anyway:
        # cutting only the socket leaves the backend running (and holding
        # its locks) until it next tries to talk to us.
        conn.execute(f"SET statement_timeout = {int(self.opt.db_timeout_s * 1000)}")

    # -- life ---------------------------------------------------------------

    def request_stop(self, *_: Any) -> None:
        """Ask for a graceful stop (the SIGTERM handler)."""
        if not self.stopping.is_set():
            self._stop_at = time.monotonic()
            self.stopping.set()

    def run(self) -> int:
        self.pool.open(wait=False)
        heart = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        watchdog = threading.Thread(target=self._watchdog_loop, name="watchdog", daemon=True)
        watchdog.start()
        try:
            self._retry(self._start)
            heart.start()
            while not self.stopping.is_set():
                if self.opt.max_batches and self.tally.batches >= self.opt.max_batches:
                    break
                if not self._step():
                    break
        finally:
            self.stopping.set()
            self._shutdown()
            if heart.is_alive():
                heart.join(timeout=2 * self.opt.heartbeat_s + 1)
            self.pool.close(timeout=2)
            self._closed.set()
        return 0

    def _start(self) -> None:
        with self._db() as conn:
            if self.opt.migrate:
                migrate(conn)
            info = json.dumps({"batch": self.opt.batch, "queue": self.opt.queue})
            claims.register(conn, self.me, socket.gethostname(), os.getpid(), info)

    def _shutdown(self) -> None:
        """Give back whatever we hold and say we stopped; best effort, bounded in time."""
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:
                with self._db(timeout=2) as conn:
                    self.tally.released += claims.release(conn, self.me)
                    claims.heartbeat(conn, self.me, None, (self.tally.completed, self.tally.failed))
                    claims.set_state(conn, self.me, "stopped")
                self._held = []
                return
            except _DB_ERRORS as exc:
                self._log("shutdown", error=str(exc))
                time.sleep(0.2)
        # Unreachable database: our claims are reclaimed once our heartbeat is stale.

    # -- one round ------------------------------------------------------------

    def _step(self) -> bool:
        """Claim, process and settle one batch; False when there is nothing left to do."""
        if self._needs_recovery:
            self._retry(self._recover)
        now = time.monotonic()
        if now - self._last_reclaim >= self.opt.stale_after_s / 2:
            self._last_reclaim = now
            self.tally.reclaimed += self._retry(self._reclaim) or 0
        batch = self._retry(self._claim)
        if batch is None:
            return not self.stopping.is_set()
        if not batch:
            if self.opt.exit_when_empty and self._retry(self._queue_drained):
                return False
            self.stopping.wait(self.opt.poll_s)
            return True
        self.tally.batches += 1
        outcomes = self._process(batch)
        done_ids = {o.record.id for o in outcomes}
        rest = [r for r in batch if r.id not in done_ids]
        if outcomes:
            settled = self._retry(lambda: self._settle(outcomes))
            if settled is not None:
                completed, failed = settled
                self.tally.completed += completed
                self.tally.failed += failed
                self.tally.fenced_off += len(outcomes) - completed - failed
        if rest:
            self.tally.released += self._retry(lambda: self._release(rest)) or 0
        self._held = []
        return True

    def _claim(self) -> list[claims.Claimed]:
        self._held = []
        with self._db() as conn:
            batch = claims.claim(conn, self.me, self.opt.batch, self.opt.queue)
        self._held = batch
        self.tally.claimed += len(batch)
        return batch

    def _process(self, batch: list[claims.Claimed]) -> list[claims.Outcome]:
        outcomes: list[claims.Outcome] = []
        # Locals: this loop runs once per record, and attribute lookups and a
        # keyword-built Outcome were most of its cost beyond the work itself.
        add, work, stopping, outcome = (
            outcomes.append,
            self.work,
            self.stopping.is_set,
            claims.Outcome,
        )
        for record in batch:
            if stopping() and time.monotonic() - self._stop_at > self.opt.term_grace_s:
                break  # out of grace: the rest is released, not processed
            try:
                add(outcome(record, True, work(record.payload, record.attempt)))
            except WorkFailed as exc:
                outcomes.append(claims.Outcome(record, False, error=str(exc)))
            except Exception as exc:  # a bug in the work must not kill the processor
                outcomes.append(claims.Outcome(record, False, error=f"{type(exc).__name__}: {exc}"))
        return outcomes

    def _settle(self, outcomes: list[claims.Outcome]) -> tuple[int, int]:
        with self._db() as conn:
            return claims.settle(
                conn, self.me, outcomes, self.opt.backoff_base_s, self.opt.backoff_cap_s
            )

    def _release(self, records: list[claims.Claimed]) -> int:
        with self._db() as conn:
            return claims.release(conn, self.me, records)

    def _reclaim(self) -> int:
        with self._db() as conn:
            return claims.reclaim_orphans(conn, self.opt.stale_after_s)

    def _recover(self) -> None:
        with self._db() as conn:
            released = claims.release_unknown(conn, self.me, self._held)
            info = json.dumps({"batch": self.opt.batch, "queue": self.opt.queue})
            claims.register(conn, self.me, socket.gethostname(), os.getpid(), info)
        self.tally.released += released
        self._needs_recovery = False
        self._log("recovered", released=released)

    def _queue_drained(self) -> bool:
        with self._db() as conn:
            row = conn.execute(
                "SELECT count(*) FROM queue_records"
                " WHERE queue = %s AND status IN ('pending', 'processing')",
                (self.opt.queue,),
            ).fetchone()
        return row is not None and row[0] == 0

    # -- resilience -------------------------------------------------------------

    def _retry(self, step: Callable[[], Any]) -> Any:
        """Run ``step`` until it works; back off while the database is away.

        Returns None if asked to stop while the database is unreachable.
        """
        waits = backoff.delays(RETRY_BASE_S, self.opt.reconnect_cap_s)
        while True:
            try:
                return step()
            except _DB_ERRORS as exc:
                self.tally.db_errors += 1
                self._needs_recovery = True
                self._log("db-error", error=" ".join(str(exc).split())[:200])
                if self.stopping.is_set() and time.monotonic() - self._stop_at > 2.0:
                    return None
                time.sleep(next(waits))

    def _heartbeat_loop(self) -> None:
        while not self.stopping.wait(self.opt.heartbeat_s):
            try:
                with self._db(timeout=self.opt.heartbeat_s) as conn:
                    info = json.dumps({"pool": self.pool.get_stats(), "tally": vars(self.tally)})
                    counts = (self.tally.completed, self.tally.failed)
                    if not claims.heartbeat(conn, self.me, info, counts):
                        self._needs_recovery = True  # our row is gone: re-register
            except _DB_ERRORS:
                pass  # the main loop notices and recovers; we just try again

    @contextmanager
    def _db(self, timeout: float | None = None) -> Iterator[Any]:
        """A pooled connection, watched by the watchdog while we hold it."""
        with self.pool.connection(timeout=timeout) as conn:
            me = threading.get_ident()
            with self._watch_lock:
                self._in_flight[me] = (conn, time.monotonic())
            try:
                yield conn
            finally:
                with self._watch_lock:
                    self._in_flight.pop(me, None)

    def _watchdog_loop(self) -> None:
        tick = min(0.5, self.opt.db_timeout_s / 4)
        while not self._closed.wait(tick):
            now = time.monotonic()
            with self._watch_lock:
                stuck = [c for c, t in self._in_flight.values() if now - t > self.opt.db_timeout_s]
            for conn in stuck:
                self._log("db-timeout", after_s=self.opt.db_timeout_s)
                _shut_socket(conn)

    def _log(self, event: str, **fields: Any) -> None:
        line = {"ts": round(time.time(), 3), "instance": self.me, "event": event, **fields}
        print(json.dumps(line), file=sys.stderr, flush=True)


def _shut_socket(conn: Any) -> None:
    """Shut a connection's socket down under libpq's feet: a blocked read returns."""
    try:
        fd = conn.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, psycopg.Error):
        pass  # already closed: nothing is stuck on it


def install_signal_handlers(processor: Processor) -> None:
    """SIGTERM and SIGINT ask for a graceful stop."""
    signal.signal(signal.SIGTERM, processor.request_stop)
    signal.signal(signal.SIGINT, processor.request_stop)
