"""Resource exhaustion on a node: memory, CPU, file descriptors, disk.

Each helper starts the pressure and returns an ``undo`` callable. Companion
processes go through ``distlab.proc.spawn`` (own group, die with us, pid
recorded), so a crashed test leaves none behind. Limits are applied to the
live node with ``prlimit(2)``: the node keeps running, and what it opens or
allocates next fails, which is what an exhausted resource looks like from
outside (new connections go unanswered, allocations raise).
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

from distlab import proc
from distlab.errors import LabError

Undo = Callable[[], None]

FILL_NAME = ".distlab-disk-fill"

# Grows in 4 MiB steps (touching every page so it is resident), says READY, then holds.
_HOG = r"""
import sys, time
target = int(sys.argv[1]); chunks = []; have = 0
while have < target:
    step = min(4 << 20, target - have)
    b = bytearray(step)
    for i in range(0, step, 4096):
        b[i] = 1
    chunks.append(b); have += step
sys.stdout.write("READY\n"); sys.stdout.flush()
while True:
    time.sleep(3600)
"""

_BURN = "while True: pass\n"


def can_prlimit() -> str | None:
    """None if limits can be set on another process here; else why not (one line)."""
    if not sys.platform.startswith("linux") or not hasattr(resource, "prlimit"):
        return f"setting limits on a running process needs Linux prlimit(2); this is {sys.platform}"
    return None


def _check_limit(what: str, res: int, value: int, pid: int) -> tuple[int, int]:
    why = can_prlimit()
    if why:
        raise LabError(f"{what}: cannot apply: {why}")
    try:
        soft, hard = resource.prlimit(pid, res)
    except (ProcessLookupError, PermissionError) as e:
        raise LabError(f"{what}: cannot read the limits of pid {pid}: {e.strerror}") from None
    if hard != resource.RLIM_INFINITY and value > hard and os.geteuid() != 0:
        raise LabError(f"{what}: cannot apply a limit of {value}: over the hard limit {hard}")
    return soft, hard


def limit(pid: int, res: int, value: int, what: str) -> Undo:
    """Set the soft (and, if lower, hard) limit ``res`` of ``pid`` to ``value``; undo restores it."""
    soft, hard = _check_limit(what, res, value, pid)
    new_hard = hard if hard == resource.RLIM_INFINITY or hard >= value else value
    resource.prlimit(pid, res, (value, new_hard))

    def undo() -> None:
        with contextlib.suppress(ProcessLookupError):
            resource.prlimit(pid, res, (soft, hard))

    return undo


def exhaust_fds(pid: int, nofile: int = 3) -> Undo:
    """Lower ``pid``'s RLIMIT_NOFILE to ``nofile``: open fds stay, every new one numbered at or
    above it fails with EMFILE (the default 3 leaves only stdin, stdout and stderr).

    A limit of "what it has open now" would not do: the kernel hands out the
    lowest free number, so the first connection the node closes would make room.
    """
    if not psutil.pid_exists(pid):
        raise LabError(f"fds: pid {pid} is not running")
    return limit(pid, resource.RLIMIT_NOFILE, nofile, "fds")


def limit_memory(pid: int, limit_mb: float) -> Undo:
    """Cap ``pid``'s address space at ``limit_mb`` MiB (RLIMIT_AS); allocations past it fail."""
    return limit(pid, resource.RLIMIT_AS, int(limit_mb * 1024 * 1024), "memory_limit")


def memory_hog(rss_mb: float, run_dir: Path | None, label: str, timeout_s: float = 30.0) -> Undo:
    """A companion process that grows to ``rss_mb`` MiB resident and holds it until undone."""
    available = psutil.virtual_memory().available
    want = int(rss_mb * 1024 * 1024)
    if want > available * 0.8:
        raise LabError(
            f"memory: cannot apply rss_mb={rss_mb:g}: only {available >> 20} MiB is available here"
        )
    p = proc.spawn(
        [sys.executable, "-I", "-S", "-c", _HOG, str(want)],
        run_dir=run_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        label=label,
    )
    undo = _killer(p)
    assert p.stdout is not None
    line = _read_line(p, timeout_s)
    if line != "READY":
        undo()
        raise LabError(
            f"memory: the companion process did not reach {rss_mb:g} MiB within {timeout_s:g} s"
        )
    return undo


def _read_line(p: subprocess.Popen[bytes], timeout_s: float) -> str:
    import selectors

    assert p.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(p.stdout, selectors.EVENT_READ)
        if not sel.select(timeout_s):
            return ""
    return p.stdout.readline().decode(errors="replace").strip()


def cpu_burners(procs: int, pid: int | None, run_dir: Path | None, label: str) -> Undo:
    """``procs`` busy processes, pinned to the CPUs ``pid`` may run on (so they compete with it)."""
    cpus: list[int] | None = None
    if pid is not None:
        with contextlib.suppress(psutil.Error, AttributeError):
            cpus = psutil.Process(pid).cpu_affinity()
    started: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(procs):
            p = proc.spawn(
                [sys.executable, "-I", "-S", "-c", _BURN], run_dir=run_dir, label=f"{label}-{i}"
            )
            started.append(p)
            if cpus:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(p.pid, cpus)
    except BaseException:
        for p in started:
            _killer(p)()
        raise
    undos = [_killer(p) for p in started]

    def undo() -> None:
        for u in undos:
            u()

    return undo


def _killer(p: subprocess.Popen[bytes]) -> Undo:
    def undo() -> None:
        proc.kill_group(p)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=5)
        proc.release(p)
        if p.stdout is not None:
            p.stdout.close()

    return undo


def fill_disk(directory: Path, free_kb: int = 0, max_fill_mb: float = 1024) -> Undo:
    """Fill the filesystem holding ``directory`` with one file until ``free_kb`` is left.

    Refuses (LabError, before writing) when that would take more than
    ``max_fill_mb``: filling a big shared disk hurts everyone on the machine.
    Put the data dir on a small filesystem instead (``small_filesystem``).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise LabError(f"disk_full: data dir {directory} does not exist")
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize
    to_fill = free - free_kb * 1024
    if to_fill > max_fill_mb * 1024 * 1024:
        raise LabError(
            f"disk_full: cannot apply: {directory} has {free >> 20} MiB free, more than "
            f"max_fill_mb={max_fill_mb:g}; put the data dir on a small filesystem "
            "(distlab.nemesis.small_filesystem) or raise max_fill_mb"
        )
    path = directory / FILL_NAME
    with open(path, "wb") as f:
        if to_fill > 0:
            with contextlib.suppress(OSError):
                os.posix_fallocate(f.fileno(), 0, to_fill)
        # Top up whatever fallocate left (reserved blocks, rounding), down to free_kb.
        block = b"\0" * 65536
        while os.statvfs(directory).f_bavail * st.f_frsize > free_kb * 1024 + len(block):
            try:
                f.seek(0, os.SEEK_END)
                f.write(block)
                f.flush()
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EDQUOT):
                    break
                raise

    def undo() -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    return undo


@contextlib.contextmanager
def small_filesystem(size_mb: int = 16, parent: Path | None = None) -> Iterator[Path]:
    """A tmpfs of ``size_mb`` MiB mounted on a fresh directory (root only); unmounted afterwards.

    Give it to nodes as their data dir so ``disk_full`` fills megabytes, not the shared disk.
    """
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        raise LabError(
            "small_filesystem: mounting a tmpfs needs root on Linux; set [cluster] data_dir "
            "to a small filesystem you mounted yourself"
        )
    mount = Path(tempfile.mkdtemp(prefix="distlab-smallfs-", dir=parent))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={int(size_mb)}m,mode=0777", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        mount.rmdir()
        raise LabError(
            f"small_filesystem: cannot mount a tmpfs: {done.stderr.strip() or done.returncode}"
        )
    try:
        yield mount
    finally:
        for _ in range(50):  # a node still closing its files keeps the mount busy for a moment
            if (
                subprocess.run(["umount", str(mount)], capture_output=True, check=False).returncode
                == 0
            ):
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)
        with contextlib.suppress(OSError):
            mount.rmdir()
