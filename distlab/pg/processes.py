"""OS-level helpers for the throwaway server: the account it runs as, ports,
the postmaster's process tree, and its log.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from distlab.env import PG_DSN_ENV
from distlab.errors import LabError

UNPRIVILEGED_USER = "nobody"


@dataclass(frozen=True)
class RunAs:
    """The account PostgreSQL's binaries run under (only when we are root)."""

    name: str
    uid: int
    gid: int


def unprivileged_account() -> RunAs | None:
    """``nobody`` when we are root (PostgreSQL refuses root), else ``None``."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise LabError(
            f"running as root, PostgreSQL needs an unprivileged account but user "
            f"{UNPRIVILEGED_USER!r} does not exist; run distlab as a normal user "
            f"or set [postgres] dsn / {PG_DSN_ENV}"
        ) from None
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def signal_tree(p: subprocess.Popen[bytes], sig: int) -> list[psutil.Process]:
    """Signal the postmaster, then its children; returns the children.

    PostgreSQL makes each backend a session leader of its own, so signalling
    the postmaster's process group does not reach them. The postmaster is
    signalled first so that, for SIGSTOP and SIGKILL, it cannot fork a new
    backend we would miss.
    """
    try:
        parent = psutil.Process(p.pid)
        kids = parent.children(recursive=True)
    except psutil.Error:
        return []
    for target in [parent, *kids]:
        with contextlib.suppress(psutil.Error):
            target.send_signal(sig)
    return kids


def kill_tree(p: subprocess.Popen[bytes]) -> None:
    """Crash the server: SIGKILL the postmaster and every backend, and wait for them.

    The postmaster is stopped first so it forks nothing while we list its
    children; all must be gone before a restart, or the new postmaster finds
    the old shared memory still attached and refuses to start.
    """
    with contextlib.suppress(ProcessLookupError):
        p.send_signal(signal.SIGSTOP)
    kids = signal_tree(p, signal.SIGKILL)
    p.wait()
    psutil.wait_procs(kids, timeout=5)


def last_error_line(path: Path | None, since: int = 0) -> str:
    """The last error-looking line of the server log, for a one-line message."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(since)
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if any(w in line for w in ("FATAL", "ERROR", "could not", "error")):
            return line.strip()
    return lines[-1].strip() if lines else ""
