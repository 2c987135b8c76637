"""The run directory: one per run, ``.distlab/runs/<timestamp>-<seed>/``.

The runner creates it and passes it to every pytest subprocess as
``DISTLAB_RUN_DIR``; fixtures put node logs, histories and schedules in it.
A plain ``pytest`` run outside the runner gets one of its own.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from distlab.env import RUN_DIR_ENV


def create_run_dir(root: str | os.PathLike[str], seed: int, *, shared: bool = False) -> Path:
    """Create a fresh run directory under ``root`` named by time and seed."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root)
    path = base / f"{stamp}-{seed}"
    n = 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{seed}-{n}"
    # Owner only: the run's logs, histories and events may hold what a test
    # printed (a DSN, a token); other accounts on a shared box have no business there.
    # ([project] shared_reports opens it to them on purpose.)
    mode = 0o755 if shared else 0o700
    path.mkdir(parents=True, mode=mode)
    os.chmod(path, mode)  # mkdir's mode is filtered by the umask
    return path


# What create_run_dir names a run: <YYYYmmdd>-<HHMMSS>-<seed>[-<n>].
RUN_NAME = re.compile(r"\d{8}-\d{6}-\d+(?:-\d+)?")


def prune_runs(root: str | os.PathLike[str], keep: int, current: Path | None = None) -> list[Path]:
    """Remove all but the newest ``keep`` run directories under ``root``; the removed ones.

    Only directories named as ``create_run_dir`` names them are touched, and
    never ``current``. Runs of a real cluster are large (node data dirs), so
    without a bound a few runs fill a disk.
    """
    base = Path(root)
    try:
        runs = sorted(
            (p for p in base.iterdir() if p.is_dir() and RUN_NAME.fullmatch(p.name)),
            key=lambda p: (p.stat().st_mtime, p.name),
        )
    except OSError:
        return []
    old = [p for p in runs[: max(0, len(runs) - keep)] if current is None or p != current]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    return old


def test_dir_name(nodeid: str) -> str:
    """The directory a test's files go in, under ``<run dir>/tests/``: its id made
    file-system-safe (histories, schedules, counterexample timelines)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150] or "test"


test_dir_name.__test__ = False  # type: ignore[attr-defined]  # not a test, despite the name


def current_run_dir() -> Path | None:
    """The run directory named by ``DISTLAB_RUN_DIR``, if any."""
    value = os.environ.get(RUN_DIR_ENV)
    return Path(value) if value else None
