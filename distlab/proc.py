"""Child processes that die with the run.

Every process distlab starts (nodes, proxies, PostgreSQL, workers) goes
through ``spawn``: it gets its own session (so a signal reaches its whole
process group and Ctrl-C in the terminal reaches only us), asks the kernel
to kill it if its parent dies (``PR_SET_PDEATHSIG`` on Linux), is registered
with the *guardian* (a tiny process that SIGKILLs every registered process
group when its pipe to us closes, so a node's own children die too, see
``distlab/cluster/guardian.py``), and its pid is recorded in the run's
``pids`` file so a later run can reap it if all else failed
(``reap_orphans``).

PDEATHSIG fires when the *thread* that forked exits, not the process. So a
``spawn`` called from any thread but the main one is handed to one
long-lived spawner thread: a node restarted by a short-lived nemesis thread
must not die when that thread ends.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import psutil

PR_SET_PDEATHSIG = 1
PIDS_FILE = "pids"
GUARDIAN_SCRIPT = Path(__file__).with_name("cluster") / "guardian.py"
_pids_lock = threading.Lock()
T = TypeVar("T")


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


class _Spawner:
    """One daemon thread that forks on behalf of threads that may end early."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]]
        self._jobs = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def call(self, fn: Callable[[], T]) -> T:
        if threading.current_thread() is threading.main_thread():
            return fn()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, name="distlab-spawner", daemon=True
                )
                self._thread.start()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future.result()

    def _serve(self) -> None:
        while True:
            fn, future = self._jobs.get()
            try:
                future.set_result(fn())
            except BaseException as e:  # handed back to the caller's thread
                future.set_exception(e)


class _Guardian:
    """The owner's side of the guardian process (started on first use)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._groups: dict[int, str] = {}
        self._dirs: set[str] = set()
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget_in_child)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def add(self, pgid: int) -> None:
        started = _start_ticks(pgid)
        if started is None:
            return  # already gone
        with self._lock:
            self._groups[pgid] = started
            self._send(f"add {pgid} {started}\n")

    def remove(self, pgid: int) -> None:
        with self._lock:
            if self._groups.pop(pgid, None) is not None:
                self._send(f"del {pgid}\n")

    def add_dir(self, path: str) -> None:
        with self._lock:
            self._dirs.add(path)
            self._send(f"dir {path}\n")

    def remove_dir(self, path: str) -> None:
        with self._lock:
            if path in self._dirs:
                self._dirs.discard(path)
                self._send(f"undir {path}\n")

    def _send(self, line: str) -> None:
        for _attempt in range(2):
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            assert self._proc is not None and self._proc.stdin is not None
            try:
                self._proc.stdin.write(line.encode())
                self._proc.stdin.flush()
                return
            except (BrokenPipeError, ValueError):
                self._proc = None  # it died; a new one gets every live group below

    def _start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(GUARDIAN_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert self._proc.stdin is not None
        for pgid, started in self._groups.items():
            self._proc.stdin.write(f"add {pgid} {started}\n".encode())
        for path in self._dirs:
            self._proc.stdin.write(f"dir {path}\n".encode())
        self._proc.stdin.flush()

    def _forget_in_child(self) -> None:
        # A forked child (multiprocessing) must not keep the owner's guardian pipe
        # open, or the guardian would outlive the owner by that child's lifetime.
        if self._proc is not None and self._proc.stdin is not None:
            try:
                os.close(self._proc.stdin.fileno())
            except OSError:
                pass
        self._proc = None
        self._groups = {}
        self._dirs = set()
        self._lock = threading.Lock()


_spawner = _Spawner()
_guardian = _Guardian()
# pgid -> (leader's kernel start time, label) of every group this process spawned.
_spawned: dict[int, tuple[str | None, str]] = {}


def _start_ticks(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


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
    guard: bool = True,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session; it and its process group die if we die.

    ``user``/``group``/``extra_groups`` drop privileges (root only); they are
    applied before the death signal is armed, because a credential change
    clears it. ``guard=False`` leaves the group out of the guardian (PDEATHSIG
    and the pid record still apply).
    """

    def fork() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
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

    proc = _spawner.call(fork)
    name = label or os.path.basename(argv[0])
    _spawned[proc.pid] = (_start_ticks(proc.pid), name)
    if guard:
        _guardian.add(proc.pid)
    if run_dir is not None:
        record_pid(run_dir, proc.pid, name)
    return proc


def release(proc: subprocess.Popen[bytes] | int) -> None:
    """Tell the guardian a group is gone (call after the leader was reaped)."""
    _guardian.remove(proc if isinstance(proc, int) else proc.pid)


# -- temp directories that die with the run ------------------------------------

TEMP_PREFIX = "distlab-"
OWNER_FILE = "owner"  # "PID CREATE_TIME" of the process that made the directory


def make_temp_dir(prefix: str) -> Path:
    """A temp directory that goes with the run that made it, however it ends.

    ``prefix`` starts with ``distlab-``. The caller removes it when done and
    then calls ``release_dir``; if the run dies first, the guardian removes it;
    if the guardian died too (the machine, a SIGKILL of both), the owner
    record lets the next run's ``reap_temp_dirs`` remove it.
    """
    assert prefix.startswith(TEMP_PREFIX), prefix
    path = Path(tempfile.mkdtemp(prefix=prefix))
    me = psutil.Process()
    (path / OWNER_FILE).write_text(f"{me.pid} {me.create_time():.3f}\n")
    _guardian.add_dir(str(path))
    return path


def release_dir(path: str | os.PathLike[str]) -> None:
    """Tell the guardian a directory from ``make_temp_dir`` (or ``guard_dir``) is gone."""
    _guardian.remove_dir(os.fspath(path))


def guard_dir(path: str | os.PathLike[str]) -> None:
    """Have the guardian remove ``path`` (named ``distlab-*``) if this process dies."""
    _guardian.add_dir(os.fspath(path))


def owner_alive(directory: Path) -> bool:
    """Whether the process recorded in ``directory``'s owner file still runs."""
    try:
        pid_text, created = (directory / OWNER_FILE).read_text().split()
        return abs(psutil.Process(int(pid_text)).create_time() - float(created)) < 0.01
    except (OSError, ValueError, psutil.Error):
        return False


# The temp directories distlab makes outside run dirs, by prefix (PostgreSQL's
# are reaped by distlab.pg.tempdirs, which also checks their postmaster).
REAPED_PREFIXES = ("distlab-ev-", "distlab-net-")


def reap_temp_dirs(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove temp directories whose owner died; returns those removed.

    A directory without an owner record is left alone: it may be one another
    run is creating this very moment.
    """
    removed: list[Path] = []
    base = Path(root or tempfile.gettempdir())
    for prefix in REAPED_PREFIXES:
        for path in base.glob(prefix + "*"):
            if not (path / OWNER_FILE).exists() or owner_alive(path):
                continue
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                removed.append(path)
    return removed


def guardian_pid() -> int | None:
    """The guardian's pid, if it was started (tests and the leak check use it)."""
    return _guardian.pid


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


def stop_group(proc: subprocess.Popen[bytes], grace_s: float) -> int:
    """SIGTERM the group, SIGKILL it after ``grace_s``; reap the leader; its exit status.

    A stopped (SIGSTOPped) group is continued so that it can act on SIGTERM.
    Whatever is left of the group after the leader exits is killed too.
    """
    if proc.poll() is None:
        kill_group(proc, signal.SIGTERM)
        kill_group(proc, signal.SIGCONT)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    kill_group(proc, signal.SIGKILL)
    code = proc.wait()
    release(proc)
    return code


def leaked(pgids: Iterable[int] | None = None) -> list[str]:
    """Processes still alive in groups this process spawned: one line each.

    The leak check at the end of a test session calls this; an empty list
    means everything ``spawn`` started is gone.
    """
    wanted = {pgid for pgid in (_spawned if pgids is None else pgids) if _still_ours(pgid)}
    if not wanted:
        return []
    lines = []
    for p in psutil.process_iter(["status", "name", "cmdline"]):
        try:
            pgid = os.getpgid(p.pid)
        except (ProcessLookupError, PermissionError):
            continue
        if pgid not in wanted or p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        label = _spawned.get(pgid, (None, "?"))[1]
        cmd = " ".join(p.info["cmdline"] or [p.info["name"] or "?"])[:120]
        lines.append(f"pid {p.pid} ({label}, group {pgid}): {cmd}")
    return lines


def spawned_groups() -> set[int]:
    """The process groups ``spawn`` started in this process so far (leaders' pids)."""
    return set(_spawned)


def kill_spawned() -> None:
    """SIGKILL every process group this process spawned (after a failed leak check)."""
    for pgid in list(_spawned):
        if _still_ours(pgid):
            kill_group(pgid)


def _still_ours(pgid: int) -> bool:
    """False if ``pgid`` now names someone else's group: its leader's pid was reused.

    A dead leader's group can still hold our processes (the kernel does not
    reuse a pid while a group of that id exists); a live leader with another
    start time is a new process that made its own group.
    """
    now = _start_ticks(pgid)
    return now is None or now == _spawned.get(pgid, (now, ""))[0]


@dataclass(frozen=True)
class RecordedProcess:
    """A process a run recorded in its ``pids`` file that still runs."""

    pid: int
    created: float  # its start time, as recorded
    label: str
    run: str  # the run directory's name
    owner: int  # the process that started it (the runner, or a layer's pytest)
    owner_alive: bool  # then it belongs to a live run, not a leftover

    def __str__(self) -> str:
        return f"{self.label} (pid {self.pid})"


def recorded_processes(runs_root: Path) -> list[RecordedProcess]:
    """Processes recorded by runs under ``runs_root`` that still run.

    A record counts only if the pid's start time matches it (pids are reused).
    Its owner counts as alive only if a process with the owner's pid runs and
    started before the child did: a reused owner pid is a younger process.
    """
    found: list[RecordedProcess] = []
    if not runs_root.is_dir():
        return found
    for pids_file in runs_root.glob(f"*/{PIDS_FILE}"):
        try:
            lines = pids_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.split(maxsplit=3)
            if len(parts) < 3 or not (parts[0].isdigit() and parts[2].isdigit()):
                continue
            pid, owner = int(parts[0]), int(parts[2])
            try:
                created = float(parts[1])
                if abs(psutil.Process(pid).create_time() - created) > 0.01:
                    continue
            except (ValueError, psutil.Error):
                continue
            try:
                owner_alive = psutil.Process(owner).create_time() <= created + 0.01
            except psutil.Error:
                owner_alive = False
            label = parts[3] if len(parts) > 3 else "?"
            found.append(
                RecordedProcess(pid, created, label, pids_file.parent.name, owner, owner_alive)
            )
    return found


def reap_orphans(runs_root: Path) -> list[str]:
    """Kill processes recorded by earlier runs whose owner is gone.

    A pid is only killed if its start time matches the record (pids are
    reused) and the process that recorded it no longer runs. Returns a line
    per reaped process, for the caller to report.
    """
    reaped: list[str] = []
    from distlab.pg.tempdirs import reap_stale_dirs

    stale = [*reap_temp_dirs(), *reap_stale_dirs()]
    if stale:
        reaped.append(f"removed {len(stale)} temp dir(s) left by dead runs: {stale[0].name} ...")
    for rec in recorded_processes(runs_root):
        if rec.owner_alive and rec.owner != os.getpid():
            continue
        try:
            p = psutil.Process(rec.pid)
            if abs(p.create_time() - rec.created) > 0.01:
                continue  # gone and its pid reused since it was read
            kill_group(rec.pid)
            p.kill()
            reaped.append(f"reaped orphan {rec} left by {rec.run}")
        except psutil.Error:
            continue
    return reaped
