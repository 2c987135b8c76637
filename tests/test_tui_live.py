"""The dashboard for real: in a pseudo-terminal as a user runs it, over a real run of
pytest layers, and lab mode over a real reference cluster. Nothing may be left running.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from tui_helpers import DATA, lab_config, pilot_test

ROOT = Path(__file__).resolve().parents[1]
DISTLAB = [sys.executable, "-m", "distlab.cli.main"]


class Terminal:
    """A program on an 80x24 pseudo-terminal: send keys, read what it drew."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.master = master
        self.output = b""

        def controlling_tty() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        full_env = {**os.environ, "TERM": "xterm-256color", **(env or {})}
        full_env.pop("DISTLAB_EVENTS", None)
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=full_env,
            preexec_fn=controlling_tty,
            close_fds=True,
        )
        os.close(slave)

    def read(self, timeout_s: float = 0.1) -> None:
        while True:
            ready, _, _ = select.select([self.master], [], [], timeout_s)
            if not ready:
                return
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk

    def wait_for(self, what: Callable[[], bool], timeout_s: float, why: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not what():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {why}; output tail: {self.output[-400:]!r}"
                )
            self.read()

    def saw(self, text: str) -> bool:
        return text.encode() in self.output

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> None:
        try:
            os.close(self.master)
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def terminal() -> Iterator[Callable[..., Terminal]]:
    made: list[Terminal] = []

    def start(argv: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> Terminal:
        t = Terminal(argv, cwd, env)
        made.append(t)
        return t

    yield start
    for t in made:
        t.close()


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_replay_in_a_terminal_draws_and_q_quits(terminal: Callable[..., Terminal]) -> None:
    t = terminal([*DISTLAB, "replay", str(DATA / "events_finished.jsonl")])
    t.wait_for(lambda: t.saw("Filter"), 30, "the footer")
    t.send("q")
    t.wait_for(lambda: t.proc.poll() is not None, 15, "exit")
    assert t.proc.returncode == 0


def test_o_suspends_and_runs_the_editor_at_the_failing_line(
    terminal: Callable[..., Terminal], tmp_path: Path
) -> None:
    log = tmp_path / "argv"
    editor = tmp_path / "editor.sh"
    editor.write_text(f'#!/bin/sh\necho "$@" > {log}\n')
    editor.chmod(0o755)
    t = terminal(
        [*DISTLAB, "replay", str(DATA / "events_finished.jsonl")], env={"EDITOR": str(editor)}
    )
    t.wait_for(lambda: t.saw("Filter"), 30, "the footer")
    # Filtering to failures puts the cursor on the first one.
    t.send("/")
    time.sleep(0.3)  # typing speed only; every check below waits on a condition
    t.send("outcome:failed\r")
    t.wait_for(lambda: t.saw("4 tests"), 10, "the filter notice")
    t.send("o")
    t.wait_for(log.exists, 15, "the editor to run")
    assert log.read_text().split() == ["+16", "suites/concurrency/test_concurrency_0.py"]
    t.send("q")
    t.wait_for(lambda: t.proc.poll() is not None, 15, "exit")
    assert t.proc.returncode == 0


def write_project(root: Path, test_body: str) -> None:
    (root / "t").mkdir()
    (root / "t" / "test_live.py").write_text(textwrap.dedent(test_body))
    (root / "config.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            name = "tui-live"
            [suites.unit]
            paths = ["t"]
            timeout_s = 120
            """
        )
    )


def test_run_all_from_the_dashboard_and_a_hangup_leaves_no_process(
    terminal: Callable[..., Terminal], tmp_path: Path
) -> None:
    write_project(
        tmp_path,
        """
        import time

        def test_quick():
            pass

        def test_slow():
            time.sleep(60)  # still running when the terminal goes away
        """,
    )
    t = terminal([*DISTLAB, "--config", str(tmp_path / "config.toml")], cwd=tmp_path)
    t.wait_for(lambda: t.saw("Run all"), 30, "the footer")
    t.send("a")
    pytests: list[psutil.Process] = []

    def layer_running() -> bool:
        pytests[:] = [p for p in descendants(t.proc.pid) if "pytest" in " ".join(p.cmdline())]
        return bool(pytests)

    t.wait_for(layer_running, 60, "the layer's pytest process")
    t.wait_for(lambda: t.saw("»1"), 60, "a running test in the tree")
    os.close(t.master)  # the terminal goes away: SIGHUP
    t.proc.wait(40)
    _gone, alive = psutil.wait_procs(pytests, timeout=10)
    assert not alive, [p.pid for p in alive]


@pilot_test
async def test_lab_mode_on_a_real_cluster_partition_heal_kill_and_nothing_left(
    tmp_path: Path,
) -> None:
    from distlab import proc
    from distlab.config.loader import load
    from distlab.events import ReadStats, read_events
    from distlab.lab.adapter import load_adapter
    from distlab.lab.session import LabSession
    from distlab.nemesis import Schedule
    from distlab.tui.app import DistlabApp
    from distlab.tui.lab import LabBackend

    # Only what this test starts: a session-scoped PostgreSQL that an earlier
    # test in the same process started is still meant to be running.
    before = proc.spawned_groups()

    config = load(str(ROOT / "config.toml"))
    adapter = load_adapter(config.lab.client, ROOT, "[lab] client")
    session = LabSession(
        config, adapter, client=config.lab.client, seed=3, session_dir=tmp_path, rate=20, minutes=1
    )
    backend = LabBackend(session)
    app = DistlabApp(backend, initial_tab="cluster")

    async def until(what: Callable[[], bool], why: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while not what():
            assert time.monotonic() < deadline, f"timed out waiting for {why}"
            await pilot.pause(0.1)

    try:
        async with app.run_test(size=(80, 24)) as pilot:
            s = app.state
            await until(
                lambda: session.ready.is_set() and len(s.nodes) == 3, "the lab to start", 60
            )
            await until(lambda: all(n.state == "up" for n in s.nodes.values()), "nodes up")
            await until(lambda: len(s.samples) >= 1, "a workload sample")
            await pilot.press("n")
            await pilot.press("down", "enter")  # isolate
            # The nemesis cuts the isolated node off as explicit groups: one node alone.
            await until(
                lambda: (
                    s.partition is not None
                    and sorted(map(len, s.partition["groups"])) == [1, 2]
                    and [f.params.get("shape") for f in s.active_faults()] == ["isolate"]
                ),
                "partition",
            )
            await pilot.press("h")
            await until(lambda: s.partition is None and not s.active_faults(), "heal")
            await pilot.press("k")  # the cursor is on n1
            await until(lambda: s.nodes["n1"].state == "down", "n1 killed")
            await pilot.press("q")
    finally:
        backend.close()
    assert not proc.leaked(proc.spawned_groups() - before)
    # The keys' faults were saved as a real schedule, in the order they were pressed.
    schedule = Schedule.from_json((tmp_path / "schedule.json").read_text())
    assert [f.kind for f in schedule.faults] == ["partition", "kill"], schedule.describe()
    assert schedule.faults[1].target == "n1" and schedule.seed == 3
    assert (tmp_path / "test_lab_session.py").is_file()
    assert (tmp_path / "history.jsonl").stat().st_size > 0
    assert os.environ.get("DISTLAB_EVENTS") != f"file:{tmp_path / 'events.jsonl'}"
    # Every line the session wrote decodes as a typed event, the lab's own kinds included.
    stats = ReadStats()
    kinds = {e.kind for e in read_events(tmp_path / "events.jsonl", stats)}
    assert stats.skipped == 0 and stats.events > 0, stats.first_problem
    lab_kinds = {"fault.start", "fault.end", "node.role", "node.state", "partition", "log"}
    assert lab_kinds | {"workload.sample"} <= kinds, kinds


def test_distlab_lab_replays_a_saved_schedule_in_the_dashboard(
    terminal: Callable[..., Terminal], tmp_path: Path
) -> None:
    from distlab.events import read_events
    from distlab.nemesis import Schedule

    schedule = Schedule.from_json(
        '{"name": "lab", "seed": 5, "faults": ['
        '{"kind": "kill", "target": "n2", "at_s": 1.0, "duration_s": 1.5},'
        '{"kind": "pause", "target": "n3", "at_s": 3.0, "duration_s": 1.0}]}'
    )
    (tmp_path / "schedule.json").write_text(schedule.to_json())
    runs = tmp_path / "runs"
    config = lab_config(tmp_path)
    t = terminal(
        [*DISTLAB, "--config", str(config), "lab", "--replay", str(tmp_path / "schedule.json")],
        env={"PYTHONPATH": str(ROOT)},
    )
    children: list[psutil.Process] = []

    def replayed() -> bool:
        children.extend(p for p in descendants(t.proc.pid) if p not in children)
        sessions = list(runs.glob("*/events.jsonl"))
        if not sessions:
            return False
        ended = [e for e in read_events(sessions[0]) if getattr(e, "kind", "") == "fault.end"]
        return len(ended) == 2

    t.wait_for(replayed, 90, "both faults of the schedule to play and end")
    t.send("q")
    t.wait_for(lambda: t.proc.poll() is not None, 60, "exit")
    assert t.proc.returncode == 0
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, [p.cmdline() for p in alive]
    (session,) = runs.iterdir()
    assert session.name.endswith("-5")  # the schedule's seed, as no --seed was given
    saved = Schedule.from_json((session / "schedule.json").read_text())
    assert [(f.kind, f.target, f.at_s) for f in saved.faults] == [
        ("kill", "n2", 1.0),
        ("pause", "n3", 3.0),
    ]
    assert (session / "test_lab_session.py").is_file()


def test_sigterm_quits_the_dashboard_cleanly(terminal: Callable[..., Terminal]) -> None:
    t = terminal([*DISTLAB, "replay", str(DATA / "events_finished.jsonl")])
    t.wait_for(lambda: t.saw("Filter"), 30, "the footer")
    t.proc.send_signal(signal.SIGTERM)
    t.wait_for(lambda: t.proc.poll() is not None, 15, "exit")
    assert t.proc.returncode == 128 + signal.SIGTERM


def test_textual_serve_shows_the_dashboard_over_a_websocket() -> None:
    # What a browser does: fetch the page, open the websocket, receive the app's screen.
    import asyncio
    import shutil
    import socket

    import aiohttp

    textual = shutil.which("textual", path=str(Path(sys.executable).parent))
    assert textual, "textual-dev is a dev dependency"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = f"{sys.executable} -m distlab.cli.main replay {DATA / 'events_finished.jsonl'}"
    server = subprocess.Popen(
        [textual, "serve", "-c", "--host", "127.0.0.1", "--port", str(port), command],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    async def browse() -> bytes:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/") as page:
                        assert page.status == 200
                        break
                except aiohttp.ClientConnectionError:
                    assert time.monotonic() < deadline, "textual serve did not listen"
                    await asyncio.sleep(0.1)
            seen = b""
            async with http.ws_connect(f"ws://127.0.0.1:{port}/ws?width=80&height=24") as ws:
                while not (b"Filter" in seen and b"FAIL" in seen) and time.monotonic() < deadline:
                    msg = await ws.receive(timeout=30)
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        seen += msg.data
                    elif msg.type == aiohttp.WSMsgType.TEXT:
                        seen += msg.data.encode()
                    else:
                        break
            return seen

    try:
        seen = asyncio.run(browse())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)
    assert b"Filter" in seen and b"FAIL" in seen
