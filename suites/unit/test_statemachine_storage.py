"""The node's durable log: recovery, overwritten suffixes, torn tails, snapshots, group fsync."""

from __future__ import annotations

import os

import pytest

from reference_system.raft import Entry, EntryKind, HardState, Snapshot
from reference_system.storage import LOG_FILE, Storage

pytestmark = pytest.mark.unit


def entries(first: int, last: int, term: int) -> list[Entry]:
    return [Entry(term, i, f"cmd{i}".encode()) for i in range(first, last + 1)]


def test_what_was_synced_comes_back(tmp_path):
    s = Storage(tmp_path)
    s.load()
    s.append(entries(1, 3, 1))
    s.set_hard_state(HardState(term=1, vote="n2", commit=2))
    s.sync()
    s.close()
    rec = Storage(tmp_path).load()
    assert rec.entries == entries(1, 3, 1)
    assert rec.hard_state == HardState(1, "n2", 2)
    assert rec.snapshot is None


def test_a_later_entry_at_an_index_replaces_the_suffix(tmp_path):
    s = Storage(tmp_path)
    s.load()
    s.append(entries(1, 5, 1))
    s.append(entries(3, 4, 2))  # a new leader overwrote 3..5
    s.sync()
    s.close()
    assert Storage(tmp_path).load().entries == entries(1, 2, 1) + entries(3, 4, 2)


def test_a_torn_tail_is_cut_off_and_appending_continues(tmp_path):
    s = Storage(tmp_path)
    s.load()
    s.append(entries(1, 3, 1))
    s.sync()
    s.close()
    path = tmp_path / LOG_FILE
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 3)  # a crash in the middle of the last record
    s = Storage(tmp_path)
    assert s.load().entries == entries(1, 2, 1)
    s.append(entries(3, 3, 2))
    s.sync()
    s.close()
    assert Storage(tmp_path).load().entries == entries(1, 2, 1) + entries(3, 3, 2)


def test_nothing_is_on_disk_before_sync(tmp_path):
    s = Storage(tmp_path)
    s.load()
    s.append(entries(1, 2, 1))
    assert (tmp_path / LOG_FILE).stat().st_size == 0
    s.sync()
    assert (tmp_path / LOG_FILE).stat().st_size > 0
    assert s.syncs == 1


def test_one_fsync_covers_every_append_since_the_last(tmp_path):
    s = Storage(tmp_path)
    s.load()
    for i in range(1, 11):
        s.append(entries(i, i, 1))
    s.set_hard_state(HardState(1, None, 10))
    s.sync()
    s.sync()  # nothing new: no second fsync
    assert (s.syncs, s.appended) == (1, 10)


def test_a_snapshot_drops_the_entries_it_covers(tmp_path):
    s = Storage(tmp_path)
    s.load()
    s.append(entries(1, 6, 1))
    s.set_hard_state(HardState(1, None, 4))
    s.save_snapshot(Snapshot(4, 1, b"state"))
    s.append(entries(7, 7, 1))
    s.sync()
    s.close()
    rec = Storage(tmp_path).load()
    assert rec.snapshot == Snapshot(4, 1, b"state")
    assert [e.index for e in rec.entries] == [5, 6, 7]
    assert rec.hard_state.commit == 4


def test_a_snapshot_from_the_leader_replaces_the_whole_log(tmp_path):
    s = Storage(tmp_path)
    s.load()
    s.append(entries(1, 9, 1))
    s.save_snapshot(Snapshot(5, 2, b"leader"), replace_log=True)
    s.close()
    rec = Storage(tmp_path).load()
    assert rec.entries == []
    assert rec.snapshot.index == 5


def test_noop_entries_and_binary_data_round_trip(tmp_path):
    s = Storage(tmp_path)
    s.load()
    odd = [Entry(1, 1, b"", EntryKind.NOOP), Entry(1, 2, bytes(range(256)))]
    s.append(odd)
    s.sync()
    s.close()
    assert Storage(tmp_path).load().entries == odd


def test_without_durability_nothing_is_written(tmp_path):
    s = Storage(tmp_path / "d", durable=False)
    s.load()
    s.append(entries(1, 2, 1))
    s.set_hard_state(HardState(3, "n1", 2))
    s.sync()
    s.close()
    assert not os.path.exists(tmp_path / "d")
