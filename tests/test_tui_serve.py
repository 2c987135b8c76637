"""The dashboard in a browser for real: `textual serve` on 127.0.0.1, a websocket client
that leaves early, a server that vanishes without a word, SIGTERM to the app. Each time
the app's process and everything it started must go, in bounded time (issue 19 item 5).

`textual serve` runs the command under ``sh -c`` with the web driver on pipes; a clean
websocket close makes it send the app "quit". Killing the server closes the pipes with
no "quit": before the fix the app lived on, drawing nothing, its lab still running.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import psutil
import pytest
from test_tui_live import ROOT
from tui_helpers import DATA, lab_config, pilot_test

EXIT_S = 20  # the app must be gone this soon (a lab's close waits for its nodes)
REPLAY = f"{sys.executable} -m distlab.cli.main replay {DATA / 'events_finished.jsonl'}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_app(p: psutil.Process) -> bool:
    """The distlab process itself (not the ``sh -c`` that textual serve runs it under)."""
    try:
        return p.cmdline()[1:3] == ["-m", "distlab.cli.main"]
    except psutil.Error:
        return False


def running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Served:
    """`textual serve -c COMMAND` on a free port; remembers every process it saw under it."""

    def __init__(self, command: str, env: dict[str, str] | None = None) -> None:
        textual = shutil.which("textual", path=str(Path(sys.executable).parent))
        assert textual, "textual-dev is a dev dependency"
        self.port = free_port()
        full_env = {**os.environ, **(env or {})}
        full_env.pop("DISTLAB_EVENTS", None)
        self.server = subprocess.Popen(
            [textual, "serve", "-c", "--host", "127.0.0.1", "--port", str(self.port), command],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.seen: dict[int, psutil.Process] = {}

    def look(self) -> list[psutil.Process]:
        """Remember the server's descendants as they are now."""
        try:
            found = psutil.Process(self.server.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            found = []
        for p in found:
            self.seen.setdefault(p.pid, p)
        for p in list(self.seen.values()):  # what the app started, once it was reparented
            try:
                for child in p.children(recursive=True):
                    self.seen.setdefault(child.pid, child)
            except psutil.NoSuchProcess:
                pass
        return found

    def app(self) -> psutil.Process | None:
        self.look()
        return next((p for p in self.seen.values() if is_app(p) and running(p)), None)

    def running(self) -> list[tuple[psutil.Process, str]]:
        """What still runs of everything seen, with its command line."""
        left = []
        for p in self.seen.values():
            try:
                if running(p):
                    left.append((p, " ".join(p.cmdline())))
            except psutil.NoSuchProcess:
                pass
        return left

    def close(self) -> None:
        """Kill the server and anything seen under it (a failed test must not leak)."""
        try:
            os.killpg(self.server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.server.wait(10)
        left = [p for p, _line in self.running()]
        for p in left:
            p.kill()
        psutil.wait_procs(left, timeout=10)


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    made: list[Served] = []

    def start(command: str, env: dict[str, str] | None = None) -> Served:
        made.append(Served(command, env))
        return made[-1]

    yield start
    for served in made:
        served.close()


async def until(what: Callable[[], object], timeout_s: float, why: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {why}"
        await asyncio.sleep(0.05)


async def browse(served: Served, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    """What the page does: fetch it, open the websocket, say the size (the app starts)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            async with http.get(f"http://127.0.0.1:{served.port}/") as page:
                assert page.status == 200
                break
        except aiohttp.ClientConnectionError:
            assert time.monotonic() < deadline, "textual serve did not listen"
            await asyncio.sleep(0.1)
    ws = await http.ws_connect(f"ws://127.0.0.1:{served.port}/ws?width=80&height=24")
    await ws.send_json(["resize", {"width": 80, "height": 24}])
    return ws


async def screen_until(ws: aiohttp.ClientWebSocketResponse, text: bytes) -> None:
    """Read the app's frames until ``text`` was drawn."""
    seen = b""
    deadline = time.monotonic() + 60
    while text not in seen:
        assert time.monotonic() < deadline, f"{text!r} never drawn; tail {seen[-300:]!r}"
        msg = await ws.receive(timeout=60)
        assert msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), msg
        seen += msg.data if isinstance(msg.data, bytes) else msg.data.encode()


async def all_gone(served: Served, timeout_s: float = EXIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while left := [line[:120] for _p, line in served.running()]:
        assert time.monotonic() < deadline, f"still running after {timeout_s} s: {left}"
        await asyncio.sleep(0.05)
        served.look()


@pilot_test
async def test_a_browser_that_drops_before_the_first_frame_leaves_nothing(
    serve: Callable[..., Served],
) -> None:
    served = serve(REPLAY)
    async with aiohttp.ClientSession() as http:
        ws = await browse(served, http)
        await until(served.app, 30, "the app's process")
        await ws.close()  # it is still importing: no frame can have come yet
    await all_gone(served)
    assert served.server.poll() is None  # the server stays up for the next browser


@pytest.mark.parametrize("when", ["before the first frame", "after the first frame"])
@pilot_test
async def test_a_server_that_vanishes_takes_the_app_with_it(
    serve: Callable[..., Served], when: str
) -> None:
    served = serve(REPLAY)
    async with aiohttp.ClientSession() as http:
        ws = await browse(served, http)
        await until(served.app, 30, "the app's process")
        if when == "after the first frame":
            await screen_until(ws, b"Filter")
        served.look()
        served.server.kill()  # no "quit": the app's pipes just close
        await all_gone(served)


@pilot_test
async def test_sigterm_ends_the_served_app(serve: Callable[..., Served]) -> None:
    served = serve(REPLAY)
    async with aiohttp.ClientSession() as http:
        ws = await browse(served, http)
        await until(served.app, 30, "the app's process")
        await screen_until(ws, b"Filter")
        app = served.app()
        assert app is not None
        app.terminate()
        await all_gone(served)
    assert served.server.poll() is None


def lab_command(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """`distlab lab` on the shipped config, its sessions under ``tmp_path/runs``."""
    config = lab_config(tmp_path)
    command = f"{sys.executable} -m distlab.cli.main --config {config} lab --rate 20 --minutes 1"
    return command, {"PYTHONPATH": str(ROOT)}


async def lab_up(
    served: Served, http: aiohttp.ClientSession, runs: Path
) -> aiohttp.ClientWebSocketResponse:
    """Browse to the lab and wait until its cluster and workload are up (what it saves
    on the way out exists from then on) and its keys are drawn."""
    ws = await browse(served, http)
    await screen_until(ws, b"Kill")

    def up() -> bool:
        served.look()
        events = list(runs.glob("*/events.jsonl"))
        return bool(events) and "cluster and workload up" in events[0].read_text()

    await until(up, 60, "the lab to be up")
    nodes = [line for _p, line in served.running() if "reference_system.node" in line]
    assert len(nodes) == 3, nodes
    return ws


def closed_cleanly(runs: Path) -> None:
    """The lab's own close ran to its end: the session saved its schedule and test,
    and the cluster stopped every node (a guardian's SIGKILL writes no event)."""
    (session,) = runs.iterdir()
    assert (session / "schedule.json").is_file() and (session / "test_lab_session.py").is_file()
    down = set()
    for line in (session / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("kind") == "node.state" and event.get("state") == "down":
            down.add(event["node"])
    assert down == {"n1", "n2", "n3"}, down


@pilot_test
async def test_a_lab_whose_server_vanishes_closes_its_session_and_nodes(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    command, env = lab_command(tmp_path)
    served = serve(command, env)
    async with aiohttp.ClientSession() as http:
        await lab_up(served, http, tmp_path / "runs")
        served.server.kill()
        await all_gone(served)
    closed_cleanly(tmp_path / "runs")


@pilot_test
async def test_sigterm_to_a_served_lab_closes_it(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    command, env = lab_command(tmp_path)
    served = serve(command, env)
    async with aiohttp.ClientSession() as http:
        await lab_up(served, http, tmp_path / "runs")
        app = served.app()
        assert app is not None
        app.terminate()
        await all_gone(served)
    closed_cleanly(tmp_path / "runs")
    assert served.server.poll() is None


# Textual's web driver hands SIGTERM to its event loop, and the loop's close puts it back
# to the default: a SIGTERM during the back end's close (seconds, for a lab) killed us
# half-way. An app with such a loop, and a back end that gets SIGTERM while it closes.
SIGTERM_WHILE_CLOSING = """
import asyncio, os, signal, sys
from distlab.tui import launch

class LoopApp:
    def __init__(self, backend, **options):
        pass

    def call_later(self, *args):
        return True

    def run(self):
        async def main():
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: None)
        asyncio.run(main())
        return 0

class SignalledWhileClosing:
    name = "lab"

    def busy(self):
        return False

    def close(self):
        os.kill(os.getpid(), signal.SIGTERM)
        print("closed to the end", flush=True)

launch.DistlabApp = LoopApp
sys.exit(launch.run_dashboard(SignalledWhileClosing()))
"""


def test_sigterm_while_the_back_end_closes_does_not_cut_the_close_short() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SIGTERM_WHILE_CLOSING],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "closed to the end\n"), done.stderr


# -- the watch itself, on pipes of our own -------------------------------------------------


@pytest.mark.parametrize("end", ["read", "write"])
def test_the_hangup_watch_calls_back_once_when_the_far_end_goes(end: str) -> None:
    from distlab.tui.hangup import HangupWatch

    r, w = os.pipe()
    mine, far = (r, w) if end == "read" else (w, r)
    calls: list[int] = []
    watch = HangupWatch(lambda: calls.append(1), fds=[mine])
    try:
        assert watch.start()
        os.write(w, b"a key the driver has not read yet")  # data waiting is no hang-up
        assert not watch.hung_up.wait(0.2)
        os.close(far)
        assert watch.hung_up.wait(10), f"no hang-up seen on the {end} end"
        assert calls == [1]
    finally:
        watch.stop()
        os.close(mine)


def test_the_hangup_watch_stops_quietly_and_leaves_terminals_and_files_alone(
    tmp_path: Path,
) -> None:
    from distlab.tui.hangup import HangupWatch

    r, w = os.pipe()
    calls: list[int] = []
    watch = HangupWatch(lambda: calls.append(1), fds=[r])
    assert watch.start()
    watch.stop()
    os.close(w)
    os.close(r)
    assert calls == [] and not watch.hung_up.is_set()
    with open(tmp_path / "file", "w") as f:
        assert not HangupWatch(lambda: calls.append(1), fds=[f.fileno()]).start()
