"""A lab for the PostgreSQL work queue under faults: its own PostgreSQL, a
proxy on every processor's link to it, processor processes, a producer at a
steady rate, and a sampler of progress; afterwards the queue checker's
verdict and the figures the criteria judge.

The database faults (``db_kill``, ``db_cut``, ``db_slow``) are played by the
nemesis; what the nemesis cannot do to a processor (it knows cluster nodes,
not queue workers) and two faults of the seeds it has no kind for are played
here, on the same clock, from the same seed:

- ``processor_kill``: SIGKILL one processor while it holds claims (mid-batch),
  start a fresh one in its place when the fault ends; ``every_s`` repeats it.
- ``db_flaky``: every ``every_s`` each processor connection to the database is
  terminated with ``probability`` (seed 004: about a third of connections fail).
- ``db_loss``: chunks on the processor-database links are lost with
  ``probability`` (TCP resends them one retransmission timeout late).

Figures (``Outcome.figures``), all from this one run:

- ``lost``, ``duplicated``: the queue checker (``check_records``) over every
  record the producer tried, the ones it was told were committed, and every
  result row the processors wrote (a record processed twice leaves two).
- ``unsettled``: records still pending or processing once the settle time is
  up; ``misfailed``: records failed before their retry budget ran out.
- ``throughput_ratio``: records completed per second from the first fault to
  the end of the schedule, over the rate completed in the quiet lead-in.
- ``fault_throughput_ratio``: the same, counting only while a fault is in force.
- ``recovery_s``: from the last heal until the backlog (acknowledged and not
  yet completed) is back within the lead-in's worst backlog (at least half a
  second of offered records); None if it never is.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from distlab import proc
from distlab.checkers.queue import RecordsResult, check_records
from distlab.checks import announce
from distlab.gates import parse_condition
from distlab.nemesis import Lab, Nemesis, long_run, timeline
from distlab.nemesis.criteria import Criterion, CriterionVerdict
from distlab.net import DATABASE, Network
from distlab.pg import Postgres
from distlab.seeds import derive
from reference_system.queue import enqueue_bulk, migrate

# Processor settings for a lab where seconds matter: quick heartbeats and
# reclaim, short backoff, a watchdog that cuts a silent connection after 2 s.
FAST = [
    *("--heartbeat", "0.3", "--stale-after", "2", "--poll", "0.05"),
    *("--backoff-base", "0.05", "--backoff-cap", "1", "--db-timeout", "2"),
]
LAB_APP = "distlab-queue-lab"  # our own sessions, which db_flaky leaves alone
NEMESIS_KINDS = ("db_kill", "db_cut", "db_slow")
LAB_KINDS = ("processor_kill", "db_flaky", "db_loss")
TICK_S = 0.1  # producer and sampler period


@dataclass
class Sample:
    t: float  # seconds since the schedule started
    completed: int
    backlog: int  # acknowledged by the producer and not completed yet


@dataclass
class Outcome:
    """What the run showed: the checker's verdict, the figures, the judged criteria."""

    records: RecordsResult
    figures: dict[str, float | None]
    verdicts: list[CriterionVerdict] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.verdicts) and all(v.passed for v in self.verdicts)

    def report(self) -> str:
        shown = ", ".join(
            f"{k}={'none' if v is None else format(v, '.3g')}" for k, v in self.figures.items()
        )
        return "\n".join(
            [
                self.records.summary(),
                shown,
                *(str(v) for v in self.verdicts),
                *self.faults,
            ]
        )


def criteria(table: dict[str, str]) -> list[Criterion]:
    """Criteria on this lab's figures, in the gates' condition language."""
    return [Criterion(metric, parse_condition(text)) for metric, text in table.items()]


def scaled(faults: list[dict[str, Any]], scale: float) -> list[dict[str, Any]]:
    """The timeline with every time (at_s, duration_s, every_s) multiplied by ``scale``."""
    out = []
    for f in faults:
        g = dict(f)
        for key in ("at_s", "duration_s", "every_s"):
            if key in g:
                g[key] = round(g[key] * scale, 3)
        out.append(g)
    return out


def length(ci_s: float, full_s: float) -> float:
    """The scenario's length: shortened in CI, full with ``distlab --long``."""
    return full_s if long_run() else ci_s


class QueueLab:
    """PostgreSQL, proxies, processors, a producer and a sampler; see the module doc."""

    def __init__(
        self, run_dir: Path, seed: int, *, processors: int = 3, rate: float = 100.0, batch: int = 10
    ) -> None:
        self.dir = run_dir
        self.seed = seed
        self.rate = rate
        self.batch = batch
        self.rng = random.Random(derive(seed, "queue-lab"))
        run_dir.mkdir(parents=True, exist_ok=True)
        self.db = Postgres.start(run_dir=run_dir, throwaway=True)
        self.net: Network | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.started = 0
        self.attempted: list[int] = []
        self.acknowledged: list[int] = []
        self.samples: list[Sample] = []
        self.ack_times: list[float] = []  # when each acknowledged batch was committed
        self.windows: list[tuple[float, float]] = []  # when each fault was really in force
        self.notes: list[str] = []
        self._stop_producer = threading.Event()
        self._stop_sampler = threading.Event()
        self._threads: list[threading.Thread] = []
        self._files: list[Any] = []
        self._t0 = time.monotonic()
        self._next_key = 0
        try:
            with self._connect() as conn:
                migrate(conn)
            self.net = Network.start(run_dir / "net", seed=derive(seed, "net"))
            for _ in range(processors):
                self.start_processor()
        except BaseException:
            self.close()
            raise

    # -- parts ------------------------------------------------------------------

    def _connect(self, timeout: float = 3.0) -> psycopg.Connection[Any]:
        return psycopg.connect(
            self.db.dsn, autocommit=True, connect_timeout=int(timeout), application_name=LAB_APP
        )

    def start_processor(self) -> str:
        """A new processor behind its own proxy link to the database."""
        assert self.net is not None
        name = f"p{self.started}"
        self.started += 1
        port = self.net.add_link(name, DATABASE, (self.db.host, self.db.port))
        dsn = make_conninfo(self.db.dsn, host="127.0.0.1", port=port)
        out = open(self.dir / f"{name}.out", "wb")  # noqa: SIM115 -- closed in close()
        err = open(self.dir / f"{name}.err", "wb")  # noqa: SIM115
        self._files += [out, err]
        argv = [sys.executable, "-m", "reference_system.processor", "--dsn", dsn]
        argv += ["--instance-id", name, "--batch", str(self.batch), *FAST]
        self.procs[name] = proc.spawn(argv, stdout=out, stderr=err, label=f"processor-{name}")
        return name

    def db_flows(self) -> list[tuple[str, str]]:
        assert self.net is not None
        return sorted(f for f in self.net.flows() if DATABASE in f)

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    # -- producer and sampler ----------------------------------------------------

    def _produce(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        per_tick = max(1, round(self.rate * TICK_S))
        next_at = time.monotonic()
        while not self._stop_producer.is_set():
            keys = list(range(self._next_key, self._next_key + per_tick))
            self._next_key += per_tick
            self.attempted += keys
            try:
                if conn is None:
                    conn = self._connect(timeout=2)
                enqueue_bulk(conn, [{"k": k, "sleep_ms": 2} for k in keys])
                self.acknowledged += keys
                self.ack_times += [self.elapsed()] * len(keys)
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                conn = None
            next_at += TICK_S
            self._stop_producer.wait(max(0.0, next_at - time.monotonic()))
        if conn is not None:
            conn.close()

    def _sample(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        while not self._stop_sampler.wait(TICK_S):
            acked = len(self.acknowledged)
            try:
                if conn is None:
                    conn = self._connect(timeout=1)
                row = conn.execute(
                    "SELECT count(*) FROM queue_records WHERE status = 'completed'"
                ).fetchone()
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                conn = None
                continue
            done = int(row[0]) if row else 0
            self.samples.append(Sample(self.elapsed(), done, max(0, acked - done)))
        if conn is not None:
            conn.close()

    # -- playing a schedule -------------------------------------------------------

    def play(self, faults: list[dict[str, Any]], until_s: float) -> list[str]:
        """Produce for ``until_s`` seconds with ``faults`` on the way; returns what was done."""
        db_faults = [f for f in faults if f["kind"] in NEMESIS_KINDS]
        lab_faults = [f for f in faults if f["kind"] in LAB_KINDS]
        unknown = {f["kind"] for f in faults} - set(NEMESIS_KINDS) - set(LAB_KINDS)
        assert not unknown, f"the queue lab has no fault {unknown}"
        schedule = timeline(db_faults, name="queue")
        lab = Lab(net=self.net, pg=self.db, run_dir=self.dir)
        self._t0 = time.monotonic()
        for target in (self._produce, self._sample):
            t = threading.Thread(target=target, name=f"queue-lab-{target.__name__}", daemon=True)
            t.start()
            self._threads.append(t)
        errors: list[BaseException] = []

        def drive(fault: dict[str, Any]) -> None:
            try:
                self._drive(fault)
            except (
                BaseException
            ) as e:  # re-raised below: a fault that was not played proves nothing
                errors.append(e)

        drivers = [
            threading.Thread(target=drive, args=(f,), daemon=True, name=f["kind"])
            for f in lab_faults
        ]
        done: list[str] = []
        with Nemesis(lab, schedule, seed=derive(self.seed, "nemesis")) as n:
            for d in drivers:
                d.start()
            while self.elapsed() < until_s:
                time.sleep(0.05)
            for d in drivers:
                d.join()
        n.raise_errors()
        if errors:
            raise errors[0]
        for a in n.applied:
            # A kill's start is its planned time; its end is when the restart finished.
            self.windows.append((a.fault.at_s, a.ended_s or self.elapsed()))
            done.append(f"{a.fault.kind} {a.fault.at_s:.1f}s..{a.ended_s or 0:.1f}s")
        self._stop_producer.set()
        return [*done, *self.notes]

    def _drive(self, fault: dict[str, Any]) -> None:
        at, duration = float(fault["at_s"]), float(fault["duration_s"])
        self._wait_until(at)
        kind = fault["kind"]
        if kind == "db_loss":
            flows = self.db_flows()
            assert self.net is not None
            self.net.loss(flows, float(fault["probability"]))
            self.notes.append(f"db_loss {fault['probability']} {at:.1f}s..{at + duration:.1f}s")
            self._wait_until(at + duration)
            self.net.heal(flows)
            self.windows.append((at, self.elapsed()))
        elif kind == "db_flaky":
            every, p = float(fault["every_s"]), float(fault["probability"])
            killed = seen = 0
            while self.elapsed() < at + duration:
                k, s = self._terminate_some(p)
                killed, seen = killed + k, seen + s
                self._wait_until(min(at + duration, self.elapsed() + every))
            self.windows.append((at, self.elapsed()))
            self.notes.append(
                f"db_flaky {at:.1f}s..{at + duration:.1f}s: terminated {killed} of {seen} "
                "processor connections seen"
            )
        elif kind == "processor_kill":
            every = float(fault.get("every_s") or duration)
            end = at + duration
            while self.elapsed() < end:
                down = min(every / 3, end - self.elapsed())
                self._kill_one_mid_batch(until=self.elapsed() + every / 2)
                self._wait_until(self.elapsed() + down)
                self.start_processor()
                self._wait_until(min(end, self.elapsed() + every - down))
            self.windows.append((at, self.elapsed()))

    def _wait_until(self, t: float) -> None:
        time.sleep(max(0.0, t - self.elapsed()))

    def _terminate_some(self, probability: float) -> tuple[int, int]:
        """Terminate each processor backend with ``probability``; (terminated, seen)."""
        try:
            with self._connect(timeout=1) as conn:
                pids = [
                    int(r[0])
                    for r in conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'"
                        " AND pid <> pg_backend_pid() AND application_name <> %s ORDER BY pid",
                        (LAB_APP,),
                    )
                ]
                chosen = [pid for pid in pids if self.rng.random() < probability]
                for pid in chosen:
                    conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        except psycopg.Error:
            return 0, 0
        return len(chosen), len(pids)

    def _kill_one_mid_batch(self, until: float) -> None:
        """SIGKILL a processor that holds claims (waiting up to ``until`` for one to)."""
        while True:
            holding: list[str] = []
            try:
                with self._connect(timeout=1) as conn:
                    holding = sorted(
                        str(r[0])
                        for r in conn.execute(
                            "SELECT DISTINCT claimed_by FROM queue_records"
                            " WHERE status = 'processing'"
                        )
                    )
            except psycopg.Error:
                pass
            alive = [n for n in holding if n in self.procs and self.procs[n].poll() is None]
            if alive or self.elapsed() >= until:
                break
            time.sleep(0.02)
        running = [n for n, p in self.procs.items() if p.poll() is None]
        victim = self.rng.choice(alive or running)
        self.procs[victim].send_signal(signal.SIGKILL)
        self.procs[victim].wait()
        self.notes.append(
            f"processor_kill {victim} at {self.elapsed():.1f}s"
            + (" holding claims" if alive else " (held no claims)")
        )

    # -- judging ------------------------------------------------------------------------

    def settle(self, timeout_s: float) -> float | None:
        """Wait until nothing is pending or processing; seconds it took, None on timeout."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            try:
                with self._connect() as conn:
                    row = conn.execute(
                        "SELECT count(*) FROM queue_records"
                        " WHERE status IN ('pending', 'processing')"
                    ).fetchone()
                if row and int(row[0]) == 0 and len(self.samples) > 0:
                    return time.monotonic() - started
            except psycopg.Error:
                pass
            time.sleep(0.1)
        return None

    def outcome(self, table: dict[str, str], until_s: float, notes: list[str]) -> Outcome:
        """The checker's verdict and the figures; stops the sampler."""
        self._stop_sampler.set()
        for t in self._threads:
            t.join()
        with self._connect() as conn:
            delivered = [
                int(r[0])
                for r in conn.execute(
                    "SELECT (r.payload->>'k')::bigint FROM queue_results q"
                    " JOIN queue_records r ON r.id = q.record_id"
                )
            ]
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE status IN ('pending', 'processing')),"
                " count(*) FILTER (WHERE status = 'failed' AND attempts < max_attempts),"
                " count(*) FILTER (WHERE attempts > 1)"
                " FROM queue_records"
            ).fetchone()
        unsettled, misfailed, retried = row or (0, 0, 0)
        records = check_records(self.attempted, self.acknowledged, delivered)
        announce("queue", str(records.verdict), records.summary())
        figures: dict[str, float | None] = {
            "lost": float(len(records.lost)),
            "duplicated": float(len(records.duplicated)),
            "unsettled": float(unsettled),
            "misfailed": float(misfailed),
            "retried": float(retried),
            "acknowledged": float(records.acknowledged),
            **self._rates(until_s),
        }
        verdicts = [c.judge(figures.get(c.metric)) for c in criteria(table)]
        return Outcome(records, figures, verdicts, notes)

    def _rates(self, until_s: float) -> dict[str, float | None]:
        assert self.windows, "no fault was played"
        first = min(a for a, _ in self.windows)
        last_heal = max(b for _, b in self.windows)
        # The offered rate: what the producer got committed in the quiet lead-in
        # (its first second warms up), against which completions are judged.
        offered = sum(1 for t in self.ack_times if 1.0 <= t < first) / max(first - 1.0, 1e-9)
        whole = self._completed_per_s(first, until_s)
        in_fault = _merge(self.windows)
        done = sum(self._completed_between(a, b) for a, b in in_fault)
        span = sum(b - a for a, b in in_fault)
        lead = [s.backlog for s in self.samples if 1.0 <= s.t <= first]
        limit = max([*lead, self.rate * 0.5])
        recovered = next(
            (s.t for s in self.samples if s.t >= last_heal and s.backlog <= limit), None
        )
        return {
            "offered_per_s": offered,
            "throughput_ratio": whole / offered if offered else None,
            "fault_throughput_ratio": (done / span) / offered if offered and span else None,
            "recovery_s": None if recovered is None else recovered - last_heal,
        }

    def _at(self, t: float) -> int:
        """Completed records at ``t`` (the last sample at or before it)."""
        before = [s.completed for s in self.samples if s.t <= t]
        return before[-1] if before else 0

    def _completed_between(self, a: float, b: float) -> int:
        return max(0, self._at(b) - self._at(a))

    def _completed_per_s(self, a: float, b: float) -> float:
        return self._completed_between(a, b) / (b - a) if b > a else 0.0

    # -- end ----------------------------------------------------------------------------

    def close(self) -> None:
        self._stop_producer.set()
        self._stop_sampler.set()
        for t in self._threads:
            t.join()
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill_group(p)
                p.wait()
        if self.net is not None:
            self.net.close()
        self.db.close()
        for f in self._files:
            f.close()


def _merge(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(windows):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


@contextmanager
def queue_lab(run_dir: Path, seed: int, **kw: Any) -> Iterator[QueueLab]:
    lab = QueueLab(run_dir, seed, **kw)
    try:
        yield lab
    finally:
        lab.close()
