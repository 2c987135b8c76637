"""Writing report files so that a reader never sees half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from distlab.errors import UsageError


def atomic_write(path: str | os.PathLike[str], data: bytes, *, what: str = "report") -> None:
    """Write ``data`` to ``path`` through a temp file in the same directory and a rename.

    A crash mid-write leaves the old file (or none), never a truncated one. A
    path that cannot be written is a one-line ``UsageError`` naming it.
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
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        tmp = None
    except OSError as e:
        reason = e.strerror or str(e)
        raise UsageError(f"cannot write the {what} to {target}: {reason}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
