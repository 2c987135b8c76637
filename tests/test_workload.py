"""The workload engine against a tiny real register server on a loopback socket."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from distlab import events
from distlab.checkers import Register, Verdict, check_linearizable
from distlab.checkers.stats import history_stats
from distlab.workload.client import Client, Completion
from distlab.workload.engine import Workload
from distlab.workload.ops import Keys, Operation, OpMix, kv_mix, register_mix
from distlab.workload.recorder import HistoryRecorder


class RegisterServer:
    """A register per key over JSON lines on 127.0.0.1. ``bug="stale"`` answers reads
    with the value before the last write; writes of ``hang_value`` are applied and
    then never answered (until the server closes)."""

    def __init__(self, bug: str | None = None, hang_value: Any = "never") -> None:
        self.bug = bug
        self.hang_value = hang_value
        self.values: dict[Any, Any] = {}
        self.previous: dict[Any, Any] = {}
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        # close() does not wake a blocked accept(); polling lets the thread see `closing`
        self.listener.settimeout(0.05)
        self.address = self.listener.getsockname()
        self.conns: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            for line in lines:
                reply = self.apply(json.loads(line))
                if reply is None:  # hang: answer nothing until shutdown
                    self.closing.wait()
                    return
                try:
                    conn.sendall((json.dumps(reply) + "\n").encode())
                except OSError:
                    return

    def apply(self, req: dict[str, Any]) -> dict[str, Any] | None:
        f, key, value = req["f"], req["key"], req["value"]
        with self.lock:
            current = self.values.get(key)
            if f == "read":
                seen = self.previous.get(key) if self.bug == "stale" else current
                return {"ok": True, "value": seen}
            if f == "cas":
                if current != value[0]:
                    return {"ok": False}
                value = value[1]
            self.previous[key] = current
            self.values[key] = value
        return None if value == self.hang_value else {"ok": True}

    def close(self) -> None:
        self.closing.set()
        self.listener.close()
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(5)


class SocketClient(Client):
    def __init__(self, process: int, address: tuple[str, int], honour_timeout: bool = True) -> None:
        self.sock = socket.create_connection(address, timeout=2)
        self.lines = self.sock.makefile("rb")
        self.honour_timeout = honour_timeout

    def invoke(self, op: Operation, timeout_s: float) -> Completion:
        self.sock.settimeout(timeout_s if self.honour_timeout else None)
        self.sock.sendall(
            (json.dumps({"f": op.f, "key": op.key, "value": op.value}) + "\n").encode()
        )
        line = self.lines.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        reply = json.loads(line)
        return Completion.ok(reply.get("value")) if reply["ok"] else Completion.fail("cas mismatch")

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


@pytest.fixture
def server() -> Iterator[RegisterServer]:
    s = RegisterServer()
    yield s
    s.close()


def _run(recorder: HistoryRecorder, address: Any, **kw: Any) -> Workload:
    honour = kw.pop("honour_timeout", True)
    w = Workload(
        lambda p: SocketClient(p, address, honour),
        recorder,
        mix=kw.pop("mix", register_mix()),
        seed=kw.pop("seed", 1),
        **kw,
    )
    w.run()
    return w


def test_closed_loop_run_is_recorded_and_linearizable(
    tmp_path: Path, server: RegisterServer
) -> None:
    path = tmp_path / "history.jsonl"
    recorder = HistoryRecorder(path)
    w = _run(recorder, server.address, clients=5, max_ops=400, keys=Keys.uniform(3))
    recorder.close()
    summary = w.summary()
    assert summary.ops == 400 and summary.info == 0
    assert summary.ok + summary.fail == 400 and summary.fail > 0  # cas contention
    lines = path.read_text().splitlines()
    assert len(lines) == 800  # written as it went: one invoke and one completion per op
    assert {json.loads(line)["process"] for line in lines} == set(range(5))
    result = recorder.check("register")
    assert result.verdict is Verdict.VALID, result.report()
    assert len(result.keys) == 3


def test_stale_reads_are_caught() -> None:
    server = RegisterServer(bug="stale")
    try:
        recorder = HistoryRecorder()
        _run(recorder, server.address, clients=4, max_ops=300, mix=register_mix(cas=0))
    finally:
        server.close()
    result = recorder.check("register")
    assert result.verdict is Verdict.INVALID
    cx = result.invalid[0].counterexample
    assert cx is not None and cx.blocked is not None and cx.blocked.f == "read"


def test_timeouts_become_info_and_retire_the_process() -> None:
    server = RegisterServer(hang_value=3)
    try:
        recorder = HistoryRecorder()
        w = _run(recorder, server.address, clients=3, max_ops=120, timeout_s=0.1, seed=5)
    finally:
        server.close()
    assert w.summary().info > 0
    by_process: dict[Any, list[str]] = defaultdict(list)
    for rec in recorder.records:
        if rec["type"] != "invoke":
            by_process[rec["process"]].append(rec["type"])
    for kinds in by_process.values():
        # a process that saw an unknown outcome never issues another op
        assert "info" not in kinds[:-1]
    # the hung writes were applied: the history must still be linearizable
    result = check_linearizable(recorder.history(Register()), Register())
    assert result.verdict is Verdict.VALID, result.report()


def test_watchdog_retires_a_client_that_ignores_its_timeout() -> None:
    server = RegisterServer(hang_value=2)
    before = set(threading.enumerate())
    try:
        recorder = HistoryRecorder()
        w = _run(
            recorder,
            server.address,
            clients=2,
            max_ops=40,
            timeout_s=0.05,
            honour_timeout=False,
            mix=OpMix({"write": 1}, {"write": lambda rng, n: 2 if n == 3 else 1}),
        )
    finally:
        server.close()
    hung = [r for r in recorder.records if r.get("error", "").startswith("no answer after")]
    assert hung, "the watchdog should have completed the hung writes as info"
    assert w.summary().ops == 40
    # abandoned threads end once their client is closed
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        extra = [t for t in set(threading.enumerate()) - before if t.name.startswith("workload")]
        if not extra:
            break
        time.sleep(0.02)
    assert not extra


def test_open_loop_never_exceeds_its_rate(server: RegisterServer) -> None:
    recorder = HistoryRecorder()
    w = _run(recorder, server.address, clients=4, duration_s=0.4, rate=50)
    # ops are due every 1/rate s from the start and none is due at or after the end
    assert w.summary().ops <= 20  # (a loaded machine may start even fewer)
    # and never early: the k-th op starts no sooner than k / rate after the start
    recorder = HistoryRecorder()
    w = _run(recorder, server.address, clients=4, max_ops=10, rate=100)
    start_ns = w.started_at_ns
    invokes = sorted(r["time"] for r in recorder.records if r["type"] == "invoke")
    assert len(invokes) == 10
    assert all(t >= start_ns + k * 10_000_000 for k, t in enumerate(invokes))


def test_client_that_cannot_open_does_not_hang_the_run() -> None:
    def refuse(process: int) -> Client:
        raise ConnectionRefusedError("no server")

    w = Workload(refuse, HistoryRecorder(), mix=register_mix(), clients=2, duration_s=0.3)
    assert w.run().ops == 0


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="duration_s or max_ops"):
        Workload(lambda p: None, HistoryRecorder(), mix=register_mix())  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="clients must be"):
        Workload(lambda p: None, HistoryRecorder(), mix=register_mix(), clients=0, max_ops=1)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="weights"):
        OpMix({"read": -1})


def test_zipf_keys_are_skewed_and_seeded() -> None:
    keys = Keys.zipf(10, 1.2)
    picks = Counter(keys.pick(random.Random(3)) for _ in range(1))
    rng = random.Random(3)
    picks = Counter(keys.pick(rng) for _ in range(5000))
    assert picks["k0"] > 2 * picks["k3"] > 0 and set(picks) <= {f"k{i}" for i in range(10)}
    again = random.Random(3)
    assert [keys.pick(again) for _ in range(50)] == [
        keys.pick(r) for r in [random.Random(3)] for _ in range(50)
    ]


def test_kv_mix_appends_unique_tokens() -> None:
    mix = kv_mix(get=0, put=0, append=1)
    rng = random.Random(0)
    values = [mix.pick(rng, n)[1] for n in range(100)]
    assert len(set(values)) == 100


def test_a_plain_mix_gets_values_for_known_functions() -> None:
    mix = OpMix({"write": 1, "cas": 1, "read": 1, "frob": 1})
    rng = random.Random(1)
    picked = {f: v for f, v in (mix.pick(rng, n) for n in range(200))}
    assert picked["write"] in range(5) and len(picked["cas"]) == 2
    assert picked["read"] is None and picked["frob"] is None


def test_live_samples_go_out_as_events(
    tmp_path: Path, server: RegisterServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = events.EventSink(str(tmp_path / "events.jsonl"))
    monkeypatch.setattr(events, "_sink", sink)
    _run(HistoryRecorder(), server.address, clients=2, duration_s=1.2)
    sink.close()
    samples = [
        e
        for e in events.read_events(tmp_path / "events.jsonl")
        if isinstance(e, events.WorkloadSample)
    ]
    assert len(samples) >= 2  # one a second plus the last partial second
    assert sum(s.ok + s.fail + s.info for s in samples) > 0
    assert samples[0].ops_per_s > 0 and samples[0].p50_ms is not None


def test_fixtures_record_under_the_run_dir_with_fault_windows(
    workload: Any, history: HistoryRecorder, server: RegisterServer, distlab_run_dir: Path
) -> None:
    w = workload(
        lambda p: SocketClient(p, server.address), mix=register_mix(cas=0), clients=3, max_ops=400
    )
    history.fault_start("f1", "partition", target=["n1"])
    w.start()
    # heal after 100 ops, so that 300 come after it
    deadline = time.monotonic() + 30
    while len(history.completions) < 100 and time.monotonic() < deadline:
        time.sleep(0.001)
    history.fault_end("f1", "partition")
    w.join()
    assert history.path is not None and distlab_run_dir in history.path.parents
    assert history.check("register").verdict is Verdict.VALID
    stats = history_stats(history.history())
    assert len(stats.windows) == 1 and stats.availability_in_faults is not None
    assert stats.recovery_s and stats.recovery_s[0] is not None
