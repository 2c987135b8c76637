"""Durable Raft state in a node's data dir: the log, the hard state, a snapshot.

``raft.log`` is an append-only file of records, each ``length | crc32 | JSON``:
``{"e": [index, term, data]}`` for a log entry, ``{"h": [term, vote, commit]}``
for the hard state. Replaying it in order rebuilds the state: an entry at
index i drops every entry at i or later first (that is how a follower's
conflicting suffix is replaced), and the last hard state wins. A torn record at
the tail (a crash mid-write) fails its checksum and is cut off on load; it was
never acknowledged, because nothing is acknowledged before ``sync`` returns.

Writes are buffered and made durable together by ``sync`` (one ``fdatasync``
for everything appended since the last one): the node calls it once per batch
of proposals from many clients -- group commit.

``snapshot.json`` holds the state machine at some applied index; after it is
written (atomically: temp file, fsync, rename, fsync dir) the log is rewritten
without the entries it covers.

With ``durable=False`` (the ``no-fsync`` planted bug) nothing reaches the
disk at all, so a restarted node forgets everything, including what it
acknowledged.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECORD = struct.Struct(">II")
LOG_FILE = "raft.log"
SNAPSHOT_FILE = "snapshot.json"

_enc = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


@dataclass
class HardState:
    """What Raft must never forget: the current term, the vote in it, the commit index."""

    term: int = 0
    vote: str | None = None
    commit: int = 0


@dataclass
class Snapshot:
    """The state machine as of ``index``/``term`` (plus the voters then)."""

    index: int
    term: int
    data: Any
    voters: list[str] = field(default_factory=list)


@dataclass
class Recovered:
    """Everything ``load`` found on disk."""

    hard_state: HardState
    entries: list[tuple[int, int, Any]]
    snapshot: Snapshot | None


def _record(obj: dict[str, Any]) -> bytes:
    payload = _enc.encode(obj).encode("utf-8")
    return RECORD.pack(len(payload), zlib.crc32(payload)) + payload


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Storage:
    """A node's log, hard state and snapshot, persisted in ``data_dir``."""

    def __init__(self, data_dir: Path, *, durable: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.durable = durable
        self._pending: list[bytes] = []
        self._file: Any = None
        # The entries in the file, newest last, so compaction can rewrite it.
        self._entries: list[tuple[int, int, Any]] = []
        self._hard = HardState()
        self.syncs = 0  # how many fsyncs; a benchmark figure (appends per fsync)

    def load(self) -> Recovered:
        """Read what is on disk (cutting off a torn tail) and open the log for appending."""
        snapshot = self._load_snapshot()
        entries: list[tuple[int, int, Any]] = []
        hard = HardState()
        path = self.data_dir / LOG_FILE
        if self.durable:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            good = 0
            if path.exists():
                raw = path.read_bytes()
                pos = 0
                while pos + RECORD.size <= len(raw):
                    length, crc = RECORD.unpack_from(raw, pos)
                    end = pos + RECORD.size + length
                    payload = raw[pos + RECORD.size : end]
                    if end > len(raw) or zlib.crc32(payload) != crc:
                        break
                    obj = json.loads(payload)
                    if "e" in obj:
                        index, term, data = obj["e"]
                        _truncate_from(entries, index)
                        entries.append((index, term, data))
                    elif "h" in obj:
                        hard = HardState(*obj["h"])
                    pos = end
                good = pos
            self._file = open(path, "ab")  # noqa: SIM115 -- held open for the node's life
            if self._file.tell() != good:
                self._file.truncate(good)
                os.fsync(self._file.fileno())
        if snapshot is not None:
            entries = [e for e in entries if e[0] > snapshot.index]
            hard.commit = max(hard.commit, snapshot.index)
        self._entries = list(entries)
        self._hard = HardState(hard.term, hard.vote, hard.commit)
        return Recovered(hard, entries, snapshot)

    def _load_snapshot(self) -> Snapshot | None:
        path = self.data_dir / SNAPSHOT_FILE
        if not self.durable or not path.exists():
            return None
        obj = json.loads(path.read_text(encoding="utf-8"))
        return Snapshot(obj["index"], obj["term"], obj["data"], list(obj.get("voters", [])))

    def append(self, entries: list[tuple[int, int, Any]]) -> None:
        """Buffer entries (replacing any at the same or later indexes); durable after ``sync``."""
        for index, term, data in entries:
            _truncate_from(self._entries, index)
            self._entries.append((index, term, data))
            if self.durable:
                self._pending.append(_record({"e": [index, term, data]}))

    def set_hard_state(self, hard: HardState) -> None:
        """Buffer a new hard state; durable after ``sync``."""
        if hard == self._hard:
            return
        self._hard = HardState(hard.term, hard.vote, hard.commit)
        if self.durable:
            self._pending.append(_record({"h": [hard.term, hard.vote, hard.commit]}))

    def sync(self) -> None:
        """Write everything buffered and fsync once."""
        if not self._pending or self._file is None:
            self._pending.clear()
            return
        self._file.write(b"".join(self._pending))
        self._pending.clear()
        self._file.flush()
        os.fdatasync(self._file.fileno())
        self.syncs += 1

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Persist ``snapshot`` and drop the log entries it covers (rewriting the log)."""
        self.sync()
        self._entries = [e for e in self._entries if e[0] > snapshot.index]
        if not self.durable:
            return
        body = json.dumps(
            {"index": snapshot.index, "term": snapshot.term, "data": snapshot.data, "voters": snapshot.voters}
        )
        _atomic_write(self.data_dir / SNAPSHOT_FILE, body.encode("utf-8"))
        records = [_record({"h": [self._hard.term, self._hard.vote, self._hard.commit]})]
        records += [_record({"e": list(e)}) for e in self._entries]
        _atomic_write(self.data_dir / LOG_FILE, b"".join(records))
        self._file.close()
        self._file = open(self.data_dir / LOG_FILE, "ab")  # noqa: SIM115

    def close(self) -> None:
        """Flush what is buffered and close the log."""
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None


def _truncate_from(entries: list[tuple[int, int, Any]], index: int) -> None:
    # Entries are contiguous and sorted, so the cut point is found from the end.
    while entries and entries[-1][0] >= index:
        entries.pop()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
