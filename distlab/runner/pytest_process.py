"""One pytest subprocess: started in its own session, watched, and killed
with everything under it when it runs out of time or the run is stopped."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from distlab.errors import LabError
from distlab.proc import GUARDIAN_SCRIPT, kill_group, spawn

# How often the watcher looks at the deadline and the stop flag.
_POLL_S = 0.05


@dataclass
class PytestExit:
    """How a pytest process ended."""

    returncode: int | None  # None: we killed it
    signal: int | None  # the signal that ended it, if any
    timed_out: bool
    stopped: bool
    duration_s: float

    @property
    def killed_by_us(self) -> bool:
        return self.timed_out or self.stopped

    def describe(self) -> str:
        """How pytest died, in words, for a layer's reason."""
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"pytest was killed by {name}"
        return f"pytest exited with code {self.returncode} without writing its report"


def pytest_argv(args: Sequence[str]) -> list[str]:
    """The command that runs pytest with ``args`` in the current interpreter."""
    return [sys.executable, "-m", "pytest", *args]


def run_pytest(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    timeout_s: float,
    stop: threading.Event,
    run_dir: Path | None = None,
    label: str = "pytest",
) -> PytestExit:
    """Run pytest to the end, the deadline, or ``stop``; nothing it started survives."""
    started = time.monotonic()
    with open(log_path, "ab") as log:
        try:
            proc = spawn(
                pytest_argv(args),
                run_dir=run_dir,
                env=env,
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                label=label,
            )
        except OSError as e:
            raise LabError(f"cannot start pytest ({sys.executable}): {e.strerror or e}") from None
        timed_out = stopped = False
        try:
            deadline = started + timeout_s
            while True:
                try:
                    proc.wait(timeout=_POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if stop.is_set():
                    stopped = True
                elif time.monotonic() >= deadline:
                    timed_out = True
                if stopped or timed_out:
                    kill_tree(proc)
                    proc.wait()
                    break
        finally:
            if proc.returncode is None:  # an exception above (KeyboardInterrupt)
                kill_tree(proc)
                proc.wait()
    code = proc.returncode
    return PytestExit(
        returncode=None if (timed_out or stopped) else code,
        signal=-code if code is not None and code < 0 else None,
        timed_out=timed_out,
        stopped=stopped,
        duration_s=time.monotonic() - started,
    )


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL pytest's process group and every descendant, also those in other sessions.

    Nodes and proxies started by fixtures lead sessions of their own, so the
    group kill misses them; they die with their parent (PDEATHSIG and the
    guardian, see ``distlab.proc``) but we do not rely on that alone.
    """
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    # pytest's guardian is spared: once pytest is dead it kills what pytest started
    # and removes its temp dirs (PostgreSQL data dirs); killed here, it could not.
    guardians = [c for c in descendants if _is_guardian(c)]
    descendants = [c for c in descendants if c not in guardians]
    kill_group(proc, signal.SIGKILL)
    for child in descendants:
        try:
            child.kill()  # psutil checks the pid still names the same process
        except psutil.Error:
            pass
    psutil.wait_procs(descendants, timeout=5)
    psutil.wait_procs(guardians, timeout=10)


def _is_guardian(p: psutil.Process) -> bool:
    try:
        return str(GUARDIAN_SCRIPT) in p.cmdline()
    except psutil.Error:
        return False
