"""Temp directories of throwaway servers, and sweeping up after dead owners.

A run that is SIGKILLed cannot remove its server's directory (the server
itself dies with it, through the death signal). Each directory records its
owner's pid and start time, so the next server started on this machine
removes directories whose owner is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import psutil

from distlab import proc

PREFIX = "distlab-pg-"
OWNER_FILE = "owner"


def create_base_dir(chown_to: tuple[int, int] | None = None) -> Path:
    """A fresh temp directory for one server, marked with its owner."""
    base = Path(tempfile.mkdtemp(prefix=PREFIX))
    me = psutil.Process()
    (base / OWNER_FILE).write_text(f"{me.pid} {me.create_time():.3f}\n")
    if chown_to is not None:
        os.chown(base, *chown_to)
    # If the run is SIGKILLed, the guardian removes it once the postmaster is dead.
    proc.guard_dir(base)
    return base


def _owner_alive(base: Path) -> bool:
    try:
        pid_text, created = (base / OWNER_FILE).read_text().split()
        owner = psutil.Process(int(pid_text))
        return abs(owner.create_time() - float(created)) < 0.01
    except (OSError, ValueError, psutil.Error):
        return False


def _postmaster_alive(base: Path) -> bool:
    try:
        pid = int((base / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def reap_stale_dirs(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove server directories whose owner died; returns those removed.

    A directory without an owner record is left alone: it may be one that
    another run created a moment ago.
    """
    removed: list[Path] = []
    for base in Path(root or tempfile.gettempdir()).glob(PREFIX + "*"):
        if not (base / OWNER_FILE).exists() or _owner_alive(base) or _postmaster_alive(base):
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(base)
            removed.append(base)
    return removed
