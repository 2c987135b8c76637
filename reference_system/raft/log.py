"""The in-memory view of one node's Raft log: a snapshot plus the entries after
it, and the three positions that matter -- what is durable (``stable``), what
is committed and what the application has applied.

The caller's durable log is kept in step through ``Ready.entries`` and
``Ready.snapshot``; this class only tracks which part it has been told about.
"""

from __future__ import annotations

from collections.abc import Sequence

from reference_system.raft.types import Entry, Snapshot

EMPTY_SNAPSHOT = Snapshot(index=0, term=0, data=b"")


class LogError(Exception):
    """The log was restored from state that cannot be right (a bug or a corrupt disk)."""


class RaftLog:
    """Snapshot + entries, with commit/applied/stable positions."""

    def __init__(
        self,
        snapshot: Snapshot | None = None,
        entries: Sequence[Entry] = (),
        commit: int = 0,
        applied: int | None = None,
        *,
        keep_conflicts: bool = False,
        index_only_vote: bool = False,
    ) -> None:
        self.snapshot = snapshot or EMPTY_SNAPSHOT
        # Planted bugs (reference_system.bugs), off by default.
        self._keep_conflicts = keep_conflicts
        self._index_only_vote = index_only_vote
        self.entries: list[Entry] = []
        expected = self.snapshot.index + 1
        for e in entries:
            if e.index <= self.snapshot.index:
                continue  # already covered by the snapshot (log not yet trimmed on disk)
            if e.index != expected:
                raise LogError(f"raft log: entry {e.index} follows {expected - 1}; log has a gap")
            self.entries.append(e)
            expected += 1
        #: highest index the caller has made durable (everything restored is durable)
        self.stable = self.last_index()
        self.committed = max(min(commit, self.last_index()), self.snapshot.index)
        start = self.snapshot.index if applied is None else applied
        self.applied = max(min(start, self.committed), self.snapshot.index)
        #: a snapshot received from the leader that the caller has not yet been given
        self.pending_snapshot: Snapshot | None = None

    # -- positions -------------------------------------------------------------

    def first_index(self) -> int:
        """The first index still held as an entry (one past the snapshot)."""
        return self.snapshot.index + 1

    def last_index(self) -> int:
        """The index of the last entry (the snapshot's index when there is none)."""
        return self.entries[-1].index if self.entries else self.snapshot.index

    def last_term(self) -> int:
        """The term of the last entry."""
        return self.entries[-1].term if self.entries else self.snapshot.term

    def term(self, index: int) -> int | None:
        """The term of the entry at ``index``; None if compacted away or not there."""
        if index == self.snapshot.index:
            return self.snapshot.term
        if index < self.snapshot.index or index > self.last_index():
            return None
        return self.entries[index - self.snapshot.index - 1].term

    def match_term(self, index: int, term: int) -> bool:
        """Whether the entry at ``index`` exists and has ``term``."""
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Whether a log ending at (last_index, last_term) is at least as new as ours."""
        if self._index_only_vote:
            # Planted bug ``vote-longer-log``: "the longer log is the newer one".
            return last_index >= self.last_index()
        ours = self.last_term()
        return last_term > ours or (last_term == ours and last_index >= self.last_index())

    def entry(self, index: int) -> Entry:
        """The entry at ``index`` (must be held)."""
        return self.entries[index - self.snapshot.index - 1]

    def slice(self, lo: int, hi: int, max_count: int, max_bytes: int) -> list[Entry]:
        """Entries ``lo..hi`` inclusive, at most ``max_count`` and about ``max_bytes``
        (always at least one entry when the range is not empty)."""
        if lo > hi:
            return []
        start = lo - self.snapshot.index - 1
        stop = min(hi - self.snapshot.index, start + max_count)
        out: list[Entry] = []
        size = 0
        for e in self.entries[start:stop]:
            size += len(e.data)
            if out and size > max_bytes:
                break
            out.append(e)
        return out

    # -- changes ---------------------------------------------------------------

    def append(self, entries: Sequence[Entry]) -> None:
        """Append entries; the first may overwrite an uncommitted suffix."""
        if not entries:
            return
        first = entries[0].index
        if first <= self.committed:
            raise LogError(f"raft log: would overwrite committed entry {first}")
        if first > self.last_index() + 1:
            raise LogError(f"raft log: entry {first} after last {self.last_index()} leaves a gap")
        del self.entries[first - self.snapshot.index - 1 :]
        self.entries.extend(entries)
        # Anything from ``first`` on is new and not yet durable.
        self.stable = min(self.stable, first - 1)

    def find_conflict(self, entries: Sequence[Entry]) -> int:
        """The index of the first of ``entries`` that is missing or differs in
        term from ours; 0 if we hold them all."""
        for e in entries:
            t = self.term(e.index)
            if t is None and e.index <= self.snapshot.index:
                continue  # compacted: committed, hence equal
            if t != e.term:
                return e.index
        return 0

    def maybe_append(
        self, prev_index: int, prev_term: int, commit: int, entries: Sequence[Entry]
    ) -> int | None:
        """Follower side of AppendEntries: None if (prev_index, prev_term) does not
        match, else append what is new and return the last index now known to
        match the leader."""
        if not self.match_term(prev_index, prev_term):
            return None
        last_new = prev_index + len(entries)
        if self._keep_conflicts:
            # Planted bug ``keep-conflicting-suffix``: what we hold is kept, only the
            # entries past our end are taken, so a deposed leader's suffix survives.
            self.append([e for e in entries if e.index > self.last_index()])
            self.commit_to(min(commit, last_new))
            return last_new
        conflict = self.find_conflict(entries)
        if conflict:
            self.append(entries[conflict - prev_index - 1 :])
        self.commit_to(min(commit, last_new))
        return last_new

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest index <= ``index`` whose term is <= ``term``, with its term:
        where a log whose entry at ``index`` has ``term`` may match ours."""
        index = min(index, self.last_index())
        while index > self.snapshot.index:
            t = self.term(index)
            assert t is not None
            if t <= term:
                return index, t
            index -= 1
        return self.snapshot.index, self.snapshot.term

    def commit_to(self, index: int) -> bool:
        """Raise the commit index (never lowers it); True if it moved."""
        index = min(index, self.last_index())
        if index > self.committed:
            self.committed = index
            return True
        return False

    def unstable_entries(self) -> list[Entry]:
        """Entries the caller has not yet been told to persist."""
        return self.entries[self.stable - self.snapshot.index :]

    def stable_to(self, index: int, term: int) -> None:
        """The caller persisted entries up to (index, term); ignore if since overwritten."""
        if index > self.stable and self.term(index) == term:
            self.stable = index

    def committed_to_apply(self) -> list[Entry]:
        """Committed entries not yet handed to the application."""
        lo = self.applied - self.snapshot.index
        hi = self.committed - self.snapshot.index
        return self.entries[lo:hi]

    def applied_to(self, index: int) -> None:
        """The application applied everything up to ``index``."""
        if index > self.applied:
            self.applied = min(index, self.committed)

    def compact(self, index: int, data: bytes) -> Snapshot:
        """Replace entries up to ``index`` (applied) by a snapshot holding ``data``."""
        if index <= self.snapshot.index:
            return self.snapshot
        if index > self.applied:
            raise LogError(f"raft log: cannot compact to {index}, only {self.applied} applied")
        term = self.term(index)
        assert term is not None
        del self.entries[: index - self.snapshot.index]
        self.snapshot = Snapshot(index=index, term=term, data=data)
        self.stable = max(self.stable, index)
        return self.snapshot

    def restore(self, snapshot: Snapshot) -> None:
        """Throw the log away and start from a snapshot sent by the leader."""
        self.entries = []
        self.snapshot = snapshot
        self.committed = snapshot.index
        self.applied = snapshot.index
        self.stable = snapshot.index
        self.pending_snapshot = snapshot
