"""Child processes that die with the run.

Every process distlab starts (nodes, proxies, PostgreSQL, workers) goes
through ``spawn``: it gets its own session (so a signal reaches its whole
process group and Ctrl-C in the terminal reaches only us), asks the kernel
to kill it if its parent dies (``PR_SET_PDEATHSIG`` on Linux), and its pid
is recorded in the run's ``pids`` file so a later run can reap it if all
else failed (``reap_orphans``).

Caveat: PDEATHSIG fires when the *thread* that forked exits, so spawn from
a thread that lives as long as the child (the main thread, or a long-lived
service thread).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import psutil

PR_SET_PDEATHSIG = 1
PIDS_FILE = "pids"
_pids_lock = threading.Lock()


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def _die_with_parent(sig: int) -> Any:
    def preexec() -> None:
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, sig)

    return preexec


def spawn(
    argv: Sequence[str],
    *,
    run_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    stdout: IO[Any] | int | None = subprocess.DEVNULL,
    stderr: IO[Any] | int | None = subprocess.STDOUT,
    death_signal: int = signal.SIGKILL,
    label: str = "",
    user: str | int | None = None,
    group: str | int | None = None,
    extra_groups: Sequence[str | int] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session; it is killed if we die.

    ``user``/``group``/``extra_groups`` drop privileges (root only); they are
    applied before the death signal is armed, because a credential change
    clears it.
    """
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_die_with_parent(death_signal),
        user=user,
        group=group,
        extra_groups=extra_groups,
    )
    if run_dir is not None:
        record_pid(run_dir, proc.pid, label or os.path.basename(argv[0]))
    return proc


def record_pid(run_dir: Path, pid: int, label: str) -> None:
    """Remember a child in the run directory so a later run can reap it."""
    try:
        create_time = psutil.Process(pid).create_time()
    except psutil.Error:
        return
    with _pids_lock, open(Path(run_dir) / PIDS_FILE, "a", encoding="utf-8") as f:
        f.write(f"{pid} {create_time:.3f} {os.getpid()} {label}\n")


def kill_group(proc: subprocess.Popen[bytes] | int, sig: int = signal.SIGKILL) -> None:
    """Signal a child's whole process group (it leads its own session)."""
    pid = proc if isinstance(proc, int) else proc.pid
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def reap_orphans(runs_root: Path) -> list[str]:
    """Kill processes recorded by earlier runs whose owner is gone.

    A pid is only killed if its start time matches the record (pids are
    reused) and the process that recorded it no longer runs. Returns a line
    per reaped process, for the caller to report.
    """
    reaped: list[str] = []
    if not runs_root.is_dir():
        return reaped
    for pids_file in runs_root.glob(f"*/{PIDS_FILE}"):
        try:
            lines = pids_file.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.split(maxsplit=3)
            if len(parts) < 3:
                continue
            pid, created, owner = int(parts[0]), float(parts[1]), int(parts[2])
            label = parts[3] if len(parts) > 3 else "?"
            if owner != os.getpid() and psutil.pid_exists(owner):
                continue
            try:
                p = psutil.Process(pid)
                if abs(p.create_time() - created) > 0.01:
                    continue
                kill_group(pid)
                p.kill()
                reaped.append(f"reaped orphan {label} (pid {pid}) left by {pids_file.parent.name}")
            except psutil.Error:
                continue
    return reaped
