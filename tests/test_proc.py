"""distlab.proc.spawn: children outlive the thread that asked for them, and die with us.

prctl(2): PR_SET_PDEATHSIG fires when the *thread* that forked the child ends,
not the process. ``spawn`` forks on one long-lived spawner thread, and is the
only place in distlab that deals with this (the network backend and the
runner's layer threads just call it).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from distlab import proc

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def on_a_thread_that_ends(fn: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """Run ``fn`` on a new thread and return once the kernel has ended that thread."""
    out: list[subprocess.Popen[bytes]] = []
    tid: list[int] = []

    def work() -> None:
        tid.append(threading.get_native_id())
        out.append(fn())

    t = threading.Thread(target=work)
    t.start()
    t.join()
    # Python's join returns before the kernel has torn the task down; the death
    # signal is sent on the kernel's exit path, before the task leaves /proc.
    deadline = time.monotonic() + 10
    while Path(f"/proc/self/task/{tid[0]}").exists():
        assert time.monotonic() < deadline, "the thread never ended"
        time.sleep(0.01)
    return out[0]


def doomed(p: subprocess.Popen[bytes]) -> bool:
    """Dead, or with SIGKILL already pending: a death signal was sent to it."""
    if p.poll() is not None:
        return True
    try:
        status = Path(f"/proc/{p.pid}/status").read_text()
    except FileNotFoundError:
        return True
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    if fields.get("State", "").startswith(("Z", "X")):
        return True
    kill_bit = 1 << (signal.SIGKILL - 1)
    return any(int(fields.get(k, "0"), 16) & kill_bit for k in ("SigPnd", "ShdPnd"))


def reap(p: subprocess.Popen[bytes]) -> None:
    proc.kill_group(p)
    p.wait(timeout=10)
    proc.release(p)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_forked_by_a_thread_that_ends_gets_its_death_signal() -> None:
    # The quirk itself, shown on this kernel: what spawn exists to avoid.
    p = on_a_thread_that_ends(
        lambda: subprocess.Popen(
            SLEEPER, start_new_session=True, preexec_fn=proc._die_with_parent(signal.SIGKILL)
        )
    )
    try:
        assert doomed(p), "the kernel did not signal the child of a thread that ended"
    finally:
        proc.kill_group(p)
        p.wait(timeout=10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_spawn_from_a_thread_that_ends_keeps_the_child_alive(tmp_path: Path) -> None:
    p = on_a_thread_that_ends(lambda: proc.spawn(SLEEPER, run_dir=tmp_path, label="sleeper"))
    try:
        assert not doomed(p), "the child died with the thread that asked for it"
        assert (tmp_path / proc.PIDS_FILE).read_text().split()[0] == str(p.pid)
    finally:
        reap(p)


def test_spawn_errors_reach_the_calling_thread(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            proc.spawn([str(tmp_path / "no-such-program")])
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert len(errors) == 1 and isinstance(errors[0], FileNotFoundError)
