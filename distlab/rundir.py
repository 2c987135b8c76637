"""The run directory: one per run, ``.distlab/runs/<timestamp>-<seed>/``.

The runner creates it and passes it to every pytest subprocess as
``DISTLAB_RUN_DIR``; fixtures put node logs, histories and schedules in it.
A plain ``pytest`` run outside the runner gets one of its own.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from distlab.env import RUN_DIR_ENV


def create_run_dir(root: str | os.PathLike[str], seed: int) -> Path:
    """Create a fresh run directory under ``root`` named by time and seed."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root)
    path = base / f"{stamp}-{seed}"
    n = 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{seed}-{n}"
    path.mkdir(parents=True)
    return path


def current_run_dir() -> Path | None:
    """The run directory named by ``DISTLAB_RUN_DIR``, if any."""
    value = os.environ.get(RUN_DIR_ENV)
    return Path(value) if value else None
