"""Writing report files so that a reader never sees half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from distlab.errors import UsageError


class ReportWriteError(UsageError, OSError):
    """A report file that cannot be written. Also an ``OSError`` (``strerror`` is the
    bare reason, ``filename`` the path), so callers that handle I/O errors catch it."""


def atomic_write(
    path: str | os.PathLike[str], data: bytes, *, what: str = "report", shared: bool = False
) -> None:
    """Write ``data`` to ``path`` through a temp file in the same directory and a rename.

    A crash mid-write leaves the old file (or none), never a truncated one. A
    path that cannot be written is a one-line ``ReportWriteError`` naming it.
    """
    target = Path(path)
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # Owner only unless asked ([project] shared_reports): reports carry test
        # output, which may hold what a test printed.
        os.chmod(tmp, 0o644 if shared else 0o600)
        os.replace(tmp, target)
        tmp = None
    except OSError as e:
        reason = _blocked(target.parent) or e.strerror or str(e)
        error = ReportWriteError(f"cannot write the {what} to {target}: {reason}")
        error.strerror, error.filename = reason, str(target)
        raise error from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _blocked(directory: Path) -> str | None:
    """Why a directory cannot exist: a file already stands at it or above it."""
    for d in (directory, *directory.parents):
        if d.exists():
            return None if d.is_dir() else f"{d} is a file, not a directory"
    return None
