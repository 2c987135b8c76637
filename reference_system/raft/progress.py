"""What a leader knows about each follower's log, and how much it may send.

Three states, as in etcd-io/raft: PROBE (one AppendEntries at a time until the
follower's match point is found), REPLICATE (stream entries with up to
``max_inflight`` messages outstanding -- pipelining with flow control), and
SNAPSHOT (the follower is behind the compacted log; wait for it to install
the snapshot sent).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field


class ProgressState(enum.StrEnum):
    """How the leader is currently replicating to one follower."""

    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


@dataclass(slots=True)
class Progress:
    """One follower's replication state, as seen by the leader."""

    match: int = 0
    next: int = 1
    state: ProgressState = ProgressState.PROBE
    #: PROBE: an AppendEntries is out and unanswered; wait for a reply or a heartbeat
    probe_sent: bool = False
    #: SNAPSHOT: the index of the snapshot sent, and ticks spent waiting for it
    pending_snapshot: int = 0
    snapshot_ticks: int = 0
    #: REPLICATE: last index of each AppendEntries in flight, oldest first
    inflight: deque[int] = field(default_factory=deque)
    #: the leader's tick count when it last heard from this follower (check-quorum)
    last_heard: int = 0
    #: the highest ReadIndex round this follower has acknowledged
    read_ack: int = 0

    def is_paused(self, max_inflight: int) -> bool:
        """Whether the leader must not send more entries now."""
        if self.state is ProgressState.PROBE:
            return self.probe_sent
        if self.state is ProgressState.REPLICATE:
            return len(self.inflight) >= max_inflight
        return True

    def become_probe(self) -> None:
        """Go back to finding the match point one message at a time."""
        if self.state is ProgressState.SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self.state = ProgressState.PROBE
        self.probe_sent = False
        self.pending_snapshot = 0
        self.inflight.clear()

    def become_replicate(self) -> None:
        """The match point is known: stream entries optimistically."""
        self.state = ProgressState.REPLICATE
        self.next = self.match + 1
        self.probe_sent = False
        self.inflight.clear()

    def become_snapshot(self, index: int) -> None:
        """A snapshot up to ``index`` was sent; wait for the follower to take it."""
        self.state = ProgressState.SNAPSHOT
        self.pending_snapshot = index
        self.snapshot_ticks = 0
        self.inflight.clear()

    def maybe_update(self, index: int) -> bool:
        """The follower acknowledged entries up to ``index``; True if match moved."""
        moved = index > self.match
        if moved:
            self.match = index
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        return moved

    def maybe_decrease(self, rejected: int, match_hint: int) -> bool:
        """The follower rejected an append at ``rejected``; its log may match up to
        ``match_hint``. False if the rejection is stale (already superseded)."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def sent(self, last: int, count: int) -> None:
        """An AppendEntries carrying ``count`` entries up to ``last`` went out."""
        if self.state is ProgressState.REPLICATE:
            if count:
                self.next = last + 1
                self.inflight.append(last)
        elif self.state is ProgressState.PROBE:
            self.probe_sent = True

    def free_to(self, index: int) -> None:
        """Acknowledged messages up to ``index`` are no longer in flight."""
        while self.inflight and self.inflight[0] <= index:
            self.inflight.popleft()
