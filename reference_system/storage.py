"""Durable Raft state in a node's data dir: the log, the hard state, a snapshot.

``raft.log`` is an append-only file of records, each ``length | crc32 | tag |
body``: tag ``E`` is a log entry (term, index, kind, then the raw command
bytes), tag ``H`` the hard state (JSON ``[term, vote, commit]``). Replaying the
file in order rebuilds the state: an entry at index i first drops every entry
at i or later (that is how a follower's conflicting suffix is replaced), and
the last hard state wins. A torn record at the tail (a crash mid-write) fails
its checksum and is cut off on load; it was never acknowledged, because
nothing is acknowledged before ``sync`` returns.

Writes are buffered and made durable together by ``sync``: one ``fdatasync``
for everything appended since the last one. The node calls it once per batch
of proposals from many clients -- group commit.

``snapshot.bin`` holds the state machine at some applied index; after it is
written (temp file, fsync, rename, fsync dir) the log is rewritten without the
entries it covers.

With ``durable=False`` (the ``no-fsync`` planted bug) nothing reaches the disk,
so a restarted node forgets everything, including what it acknowledged.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from reference_system.raft.types import Entry, EntryKind, HardState, Snapshot

RECORD = struct.Struct(">II")
ENTRY = struct.Struct(">QQB")
SNAP = struct.Struct(">QQ")
LOG_FILE = "raft.log"
SNAPSHOT_FILE = "snapshot.bin"


@dataclass
class Recovered:
    """Everything ``load`` found on disk."""

    hard_state: HardState
    entries: list[Entry]
    snapshot: Snapshot | None


def _record(tag: bytes, body: bytes) -> bytes:
    payload = tag + body
    return RECORD.pack(len(payload), zlib.crc32(payload)) + payload


def _entry_record(e: Entry) -> bytes:
    return _record(b"E", ENTRY.pack(e.term, e.index, int(e.kind)) + e.data)


def _hard_record(h: HardState) -> bytes:
    return _record(b"H", json.dumps([h.term, h.vote, h.commit]).encode())


class Storage:
    """A node's log, hard state and snapshot, persisted in ``data_dir``."""

    def __init__(self, data_dir: Path, *, durable: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.durable = durable
        self._pending: list[bytes] = []
        self._file: BinaryIO | None = None
        # What the file holds, so compaction can rewrite it without reading it.
        self._entries: list[Entry] = []
        self._hard = HardState()
        self.syncs = 0  # fsyncs done; with ``appended`` it shows the group-commit factor
        self.appended = 0

    def load(self) -> Recovered:
        """Read what is on disk (cutting off a torn tail) and open the log for appending."""
        snapshot = self._load_snapshot()
        entries: list[Entry] = []
        hard = HardState()
        if self.durable:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path = self.data_dir / LOG_FILE
            raw = path.read_bytes() if path.exists() else b""
            pos = 0
            while pos + RECORD.size <= len(raw):
                length, crc = RECORD.unpack_from(raw, pos)
                end = pos + RECORD.size + length
                payload = raw[pos + RECORD.size : end]
                if end > len(raw) or length < 1 or zlib.crc32(payload) != crc:
                    break
                tag, body = payload[:1], payload[1:]
                if tag == b"E":
                    term, index, kind = ENTRY.unpack_from(body)
                    _truncate_from(entries, index)
                    entries.append(Entry(term, index, body[ENTRY.size :], EntryKind(kind)))
                elif tag == b"H":
                    term, vote, commit = json.loads(body)
                    hard = HardState(term, vote, commit)
                pos = end
            self._file = open(path, "ab")  # noqa: SIM115 -- held open for the node's life
            if self._file.tell() != pos:
                self._file.truncate(pos)
                os.fsync(self._file.fileno())
        if snapshot is not None:
            entries = [e for e in entries if e.index > snapshot.index]
            if hard.commit < snapshot.index:
                hard = HardState(hard.term, hard.vote, snapshot.index)
        self._entries = list(entries)
        self._hard = hard
        return Recovered(hard, entries, snapshot)

    def _load_snapshot(self) -> Snapshot | None:
        path = self.data_dir / SNAPSHOT_FILE
        if not self.durable or not path.exists():
            return None
        raw = path.read_bytes()
        index, term = SNAP.unpack_from(raw)
        return Snapshot(index=index, term=term, data=raw[SNAP.size :])

    def append(self, entries: Sequence[Entry]) -> None:
        """Buffer entries (replacing any at the same or later indexes); durable after ``sync``."""
        if not entries:
            return
        _truncate_from(self._entries, entries[0].index)
        self._entries.extend(entries)
        self.appended += len(entries)
        if self.durable:
            self._pending.extend(_entry_record(e) for e in entries)

    def set_hard_state(self, hard: HardState) -> None:
        """Buffer a new hard state; durable after ``sync``."""
        if hard == self._hard:
            return
        self._hard = hard
        if self.durable:
            self._pending.append(_hard_record(hard))

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

    def save_snapshot(self, snapshot: Snapshot, *, replace_log: bool = False) -> None:
        """Persist ``snapshot`` and drop the log entries it covers (rewriting the log).

        ``replace_log``: the snapshot came from the leader and replaces the whole
        log, so entries after it are dropped too (they may conflict with the leader's).
        """
        self.sync()
        if replace_log:
            self._entries = []
        self._entries = [e for e in self._entries if e.index > snapshot.index]
        if self._hard.commit < snapshot.index:
            self._hard = HardState(self._hard.term, self._hard.vote, snapshot.index)
        if not self.durable or self._file is None:
            return
        _atomic_write(
            self.data_dir / SNAPSHOT_FILE, SNAP.pack(snapshot.index, snapshot.term) + snapshot.data
        )
        records = [_hard_record(self._hard)] + [_entry_record(e) for e in self._entries]
        _atomic_write(self.data_dir / LOG_FILE, b"".join(records))
        self._file.close()
        self._file = open(self.data_dir / LOG_FILE, "ab")  # noqa: SIM115

    @property
    def hard_state(self) -> HardState:
        """The last hard state handed to ``set_hard_state`` (durable once ``sync`` returns)."""
        return self._hard

    @property
    def log_length(self) -> int:
        """Entries held in the log file (since the last snapshot)."""
        return len(self._entries)

    def close(self) -> None:
        """Write what is buffered and close the log."""
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None


def _truncate_from(entries: list[Entry], index: int) -> None:
    # Entries are contiguous and sorted, so the cut is at a computable position.
    if entries and entries[-1].index >= index:
        del entries[max(0, index - entries[0].index) :]


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
