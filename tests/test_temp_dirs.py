"""No temp directory left behind (issue 14 item 10): the guardian removes what
a SIGKILLed run made, and the next run reaps what a dead guardian left."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from distlab import proc

REPO = Path(__file__).resolve().parents[1]


def _wait_gone(path: Path, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not path.exists()


def test_a_sigkilled_runners_event_sockets_go_with_it() -> None:
    """The runner's event listener, as --ci makes it, in a process that is SIGKILLed."""
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from distlab.runner.listener import EventListener
        listener = EventListener(Path(sys.argv[1]))
        address = listener.open_endpoint("unit")
        print(address, flush=True)
        time.sleep(120)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script, "/dev/null"], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert owner.stdout is not None
        address = owner.stdout.readline().strip()
        sock_dir = Path(address.removeprefix("unix:")).parent
        assert sock_dir.name.startswith("distlab-ev-") and sock_dir.exists(), address
        owner.kill()
        owner.wait()
        assert _wait_gone(sock_dir), f"{sock_dir} outlived its SIGKILLed runner"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def test_the_guardian_never_removes_a_dir_not_named_like_ours(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from distlab import proc
        proc.guard_dir(sys.argv[1])
        proc.make_temp_dir("distlab-ev-")
        print("ok", flush=True)
        time.sleep(120)
        """
    )
    precious = tmp_path / "user-data"
    precious.mkdir()
    owner = subprocess.Popen(
        [sys.executable, "-c", script, str(precious)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert owner.stdout is not None and owner.stdout.readline().strip() == "ok"
    guardian = [
        c for c in psutil.Process(owner.pid).children() if "guardian" in " ".join(c.cmdline())
    ]
    owner.kill()
    owner.wait()
    psutil.wait_procs(guardian, timeout=10)
    assert precious.exists()


def test_dirs_of_dead_owners_are_reaped_and_others_kept(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    created = psutil.Process(dead.pid).create_time()
    dead.wait()
    left = tmp_path / "distlab-ev-left"
    left.mkdir()
    (left / "0.sock").touch()
    (left / proc.OWNER_FILE).write_text(f"{dead.pid} {created:.3f}\n")
    live = proc.make_temp_dir("distlab-ev-")  # ours: alive
    try:
        unmarked = tmp_path / "distlab-net-new"  # another run is creating it right now
        unmarked.mkdir()
        assert proc.reap_temp_dirs(tmp_path) == [left]
        assert unmarked.exists()
        assert live not in proc.reap_temp_dirs()
        assert live.exists()
    finally:
        import shutil

        shutil.rmtree(live, ignore_errors=True)
        proc.release_dir(live)


def test_a_stopped_layers_guardian_is_spared_so_it_removes_the_dirs() -> None:
    """The runner stops a layer (Ctrl-C, timeout) by SIGKILLing pytest's whole tree;
    pytest's guardian must survive that long enough to remove pytest's temp dirs."""
    from distlab.runner.pytest_process import kill_tree

    script = textwrap.dedent(
        """
        import time
        from distlab import proc
        made = proc.make_temp_dir("distlab-pg-")
        for i in range(20000):  # like a data dir: removing it takes a while
            (made / str(i)).touch()
        print(made, flush=True)
        time.sleep(120)
        """
    )
    layer = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO,
        start_new_session=True,
    )  # fmt: skip
    assert layer.stdout is not None
    made = Path(layer.stdout.readline().strip())
    assert made.exists()
    kill_tree(layer)  # type: ignore[arg-type]
    layer.wait()
    assert _wait_gone(made, within_s=2.0), f"{made} outlived the stopped layer"
