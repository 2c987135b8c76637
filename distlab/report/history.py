"""The run history: every run's summary in a small SQLite file under ``.distlab/``.

Embedded, no server. It answers two questions: "what was the last passing
run on this branch?" (the baseline for ``<= baseline * 1.10`` gates) and
"what were the last runs?" (``distlab history``). Each row keeps the columns
those need plus the whole ``summary.json``, compressed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distlab.errors import UsageError
from distlab.report.branch import detect_branch
from distlab.report.summary import summary_bytes
from distlab.results import RunResult

HISTORY_NAME = "history.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started     REAL    NOT NULL,
    finished    REAL    NOT NULL,
    duration_s  REAL    NOT NULL,
    seed        INTEGER NOT NULL,
    branch      TEXT    NOT NULL,
    verdict     TEXT    NOT NULL,
    exit_code   INTEGER NOT NULL,
    run_dir     TEXT    NOT NULL,
    layers      TEXT    NOT NULL,
    gates_failed INTEGER NOT NULL,
    summary     BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_branch_verdict ON runs (branch, verdict, started);
"""


def history_path(config_path: str | Path = "config.toml", run_dir: str = ".distlab/runs") -> Path:
    """Where the history lives: next to the runs directory (``[project] run_dir``,
    relative to the config file), so by default ``.distlab/history.sqlite``."""
    return (Path(config_path).resolve().parent / run_dir).parent / HISTORY_NAME


@dataclass(frozen=True)
class RunRecord:
    """One row of the history, without the full summary."""

    id: int
    started: float
    finished: float
    duration_s: float
    seed: int
    branch: str
    verdict: str
    exit_code: int
    run_dir: str
    layers: list[str]
    gates_failed: int


class RunHistory:
    """The SQLite run history at ``path`` (created on first write)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def record(self, run: RunResult) -> int:
        """Store a finished run; returns its id. An empty ``run.branch`` is detected."""
        branch = self._branch(run.branch)
        row = (
            run.started,
            run.finished,
            run.duration_s,
            run.seed,
            branch,
            run.verdict,
            run.exit_code,
            run.run_dir,
            json.dumps([layer.layer for layer in run.layers]),
            sum(1 for g in run.gates if g.status == "failed"),
            zlib.compress(summary_bytes(run)),
        )
        with self._connect(create=True) as db:
            cur = db.execute(
                "INSERT INTO runs (started, finished, duration_s, seed, branch, verdict,"
                " exit_code, run_dir, layers, gates_failed, summary)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return int(cur.lastrowid or 0)

    def last_passing(self, branch: str) -> RunResult | None:
        """The most recent run on ``branch`` whose verdict was ``pass``; the baseline.

        An empty ``branch`` is detected, as ``record`` does, so the two agree."""
        if not self.path.exists():
            return None
        branch = self._branch(branch)
        with self._connect() as db:
            found = db.execute(
                "SELECT summary FROM runs WHERE branch = ? AND verdict = 'pass'"
                " ORDER BY started DESC, id DESC LIMIT 1",
                (branch,),
            ).fetchone()
        return _load(found[0]) if found else None

    def recent(self, n: int = 20, branch: str | None = None) -> list[RunRecord]:
        """The last ``n`` runs, newest first (optionally of one branch)."""
        if not self.path.exists():
            return []
        query = (
            "SELECT id, started, finished, duration_s, seed, branch, verdict, exit_code,"
            " run_dir, layers, gates_failed FROM runs"
        )
        args: tuple[object, ...] = ()
        if branch is not None:
            query += " WHERE branch = ?"
            args = (branch,)
        query += " ORDER BY started DESC, id DESC LIMIT ?"
        with self._connect() as db:
            rows = db.execute(query, (*args, max(0, n))).fetchall()
        return [_record(row) for row in rows]

    def get(self, run_id: int) -> RunResult | None:
        """The full result of one stored run."""
        if not self.path.exists():
            return None
        with self._connect() as db:
            found = db.execute("SELECT summary FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _load(found[0]) if found else None

    def _branch(self, branch: str) -> str:
        return branch or detect_branch(self.path.parent if self.path.parent.exists() else None)

    @contextmanager
    def _connect(self, create: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Owner only (sqlite would use the umask): it keeps failure messages.
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            # Parallel CI jobs on one checkout may record at once: wait, do not fail.
            db = sqlite3.connect(self.path, timeout=30)
        except (OSError, sqlite3.Error) as e:
            raise UsageError(f"cannot open the run history {self.path}: {e}") from None
        try:
            with db:
                self._migrate(db)
                yield db
        except sqlite3.DatabaseError as e:
            raise UsageError(
                f"{self.path} is not a readable distlab run history ({e}); move it aside"
            ) from None
        finally:
            db.close()

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise UsageError(
                f"{self.path} was written by a newer distlab (schema {version}, "
                f"this one reads {SCHEMA_VERSION})"
            )
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


# What each column of a row must hold. SQLite stores whatever it is given, so a
# history written by hand or by another tool can hold text where a number belongs.
_COLUMNS: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("id", (int,)),
    ("started", (int, float)),
    ("finished", (int, float)),
    ("duration_s", (int, float)),
    ("seed", (int,)),
    ("branch", (str,)),
    ("verdict", (str,)),
    ("exit_code", (int,)),
    ("run_dir", (str,)),
    ("layers", (str,)),
    ("gates_failed", (int,)),
)


class HistoryDataError(UsageError):
    """A row of the history that does not hold what distlab wrote (one line)."""


def _record(row: tuple[Any, ...]) -> RunRecord:
    for value, (name, types) in zip(row, _COLUMNS, strict=True):
        if isinstance(value, bool) or not isinstance(value, types):
            raise HistoryDataError(
                f"the run history's run {row[0]!r} has {name} = {_show(value)}, "
                f"not {' or '.join(t.__name__ for t in types)}; move the history aside"
            )
    try:
        layers = json.loads(row[9])
    except ValueError:
        layers = None
    if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
        raise HistoryDataError(
            f"the run history's run {row[0]!r} has layers = {_show(row[9])}, "
            "not a JSON list of names; move the history aside"
        )
    return RunRecord(
        id=row[0],
        started=float(row[1]),
        finished=float(row[2]),
        duration_s=float(row[3]),
        seed=row[4],
        branch=row[5],
        verdict=row[6],
        exit_code=row[7],
        run_dir=row[8],
        layers=layers,
        gates_failed=row[10],
    )


def _load(blob: object) -> RunResult:
    try:
        if not isinstance(blob, bytes):
            raise TypeError(f"a {type(blob).__name__}, not compressed JSON")
        return RunResult.from_dict(json.loads(zlib.decompress(blob)))
    except Exception as e:  # any shape of bad data: one line, never a traceback
        reason = " ".join(str(e).split())[:120] or type(e).__name__
        raise HistoryDataError(
            f"the run history holds a summary distlab cannot read ({reason}); "
            "move the history aside"
        ) from None


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
