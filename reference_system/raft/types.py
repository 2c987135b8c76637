"""Plain data the Raft core takes in and hands out: entries, hard state,
snapshots, read states, status, configuration and the ``Ready`` batch.

Everything here is a small immutable value (except ``Ready``, a batch the
caller consumes) so a codec can serialise it field by field and a test can
compare it with ``==``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reference_system.raft.messages import Message

NodeId = str


class Role(enum.StrEnum):
    """What a node currently is in the election protocol."""

    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class EntryKind(enum.IntEnum):
    """Why an entry is in the log."""

    #: a command proposed by the application; apply ``data`` to the state machine
    NORMAL = 0
    #: appended by a new leader so that it can commit in its own term; apply nothing
    NOOP = 1


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry: the command ``data`` at ``index``, written in ``term``."""

    term: int
    index: int
    data: bytes = b""
    kind: EntryKind = EntryKind.NORMAL


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be on disk before any message of the same Ready is sent.

    ``vote`` is the node this node voted for in ``term`` (None: no vote yet);
    ``commit`` is persisted so a restart re-applies without waiting for a leader.
    """

    term: int = 0
    vote: NodeId | None = None
    commit: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The application state after applying every entry up to ``index``.

    ``term`` is the term of the entry at ``index``; ``data`` is opaque to the
    core (the application encodes and decodes it).
    """

    index: int
    term: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class ReadState:
    """A linearizable read may be served once the state machine has applied ``index``.

    ``ctx`` is the caller's token from ``read_index(ctx)``, returned unchanged.
    """

    index: int
    ctx: bytes


@dataclass(frozen=True, slots=True)
class Status:
    """A snapshot of the node's view, for ``status`` replies and dashboards.

    ``quorum`` is True when this node is in contact with a majority: a leader
    that heard from a majority (itself included) within the last election
    timeout, or a follower that heard from a current leader within it.
    """

    id: NodeId
    role: Role
    term: int
    leader: NodeId | None
    commit: int
    applied: int
    last_index: int
    quorum: bool


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """How one core behaves. Times are in ticks; the caller decides a tick's length.

    ``peers`` lists every voting member, this node included. The election
    timeout is drawn from ``[election_ticks, 2 * election_ticks)`` after every
    reset, from the RNG given to the core.
    """

    id: NodeId
    peers: tuple[NodeId, ...]
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    #: ask for pre-votes before raising the term, so a node cut off from the
    #: cluster does not force an election when it comes back
    pre_vote: bool = True
    #: a leader that has not heard from a majority within an election timeout
    #: steps down; followers in contact with a leader ignore vote requests
    check_quorum: bool = True
    #: most entries in one AppendEntries message (batching)
    max_entries_per_message: int = 256
    #: most bytes of entry data in one AppendEntries message (at least one entry is
    #: sent); with ``max_inflight`` it bounds what one Ready sends a peer (4 MiB)
    max_bytes_per_message: int = 256 << 10
    #: most AppendEntries in flight to one follower (pipelining / flow control)
    max_inflight: int = 16
    #: planted bug: the election quorum is half the cluster instead of a
    #: majority, and a leader never steps down or admits to losing quorum
    split_brain: bool = False
    #: planted bugs of the core by name (``reference_system.bugs``), off by default;
    #: each is checked where the mistake would be made
    planted: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.id not in self.peers:
            raise ValueError(f"raft config: id {self.id!r} must be one of peers {self.peers}")
        if len(set(self.peers)) != len(self.peers):
            raise ValueError(f"raft config: peers must be distinct, got {self.peers}")
        if self.election_ticks < 2 or self.heartbeat_ticks < 1:
            raise ValueError("raft config: need election_ticks >= 2 and heartbeat_ticks >= 1")
        if self.heartbeat_ticks >= self.election_ticks:
            raise ValueError("raft config: heartbeat_ticks must be below election_ticks")
        if self.max_entries_per_message < 1 or self.max_inflight < 1:
            raise ValueError("raft config: max_entries_per_message and max_inflight must be >= 1")


@dataclass(slots=True)
class Ready:
    """Everything the caller must do, in this order, before calling ``advance``.

    1. Persist (and fsync): ``snapshot`` if set, then ``entries`` -- the first
       entry may overwrite an existing index: drop the durable log from
       ``entries[0].index`` on, then append -- then ``hard_state`` if set.
    2. Send ``messages`` (only after step 1: votes and acknowledgements
       promise that the data is durable).
    3. If ``snapshot`` is set, load it into the state machine; then apply
       ``committed_entries`` in order (skip ``EntryKind.NOOP`` entries).
    4. Serve ``read_states`` once the state machine has applied ``index``.
    """

    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    committed_entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)
    #: contexts of ``read_index`` requests abandoned because this node lost
    #: leadership before confirming them; the caller should fail them (retryable)
    dropped_reads: list[bytes] = field(default_factory=list)
    #: ``hard_state`` changes the term or the vote (not only the commit index)
    vote_changed: bool = False

    @property
    def must_sync(self) -> bool:
        """Whether step 1 wrote anything that needs an fsync before ``messages`` go out.

        A hard state that only moves the commit index is written but need not be
        synced (etcd's rule): the commit index is a hint that a restarted node
        learns again from its leader, and a lower one on disk only means that
        the node re-applies later. Terms, votes, entries and snapshots are
        promises made to other nodes, so they must be on disk first.
        """
        return self.vote_changed or bool(self.entries) or self.snapshot is not None

    def is_empty(self) -> bool:
        """Whether there is nothing to do at all."""
        return not (
            self.must_sync
            or self.committed_entries
            or self.messages
            or self.read_states
            or self.dropped_reads
        )


class NotLeader(Exception):
    """A proposal or read went to a node that is not the leader.

    ``leader`` is the node's best guess at the current leader (None: unknown),
    so the caller can redirect the client.
    """

    def __init__(self, node: NodeId, leader: NodeId | None) -> None:
        super().__init__(f"{node} is not the leader (leader: {leader or 'unknown'})")
        self.node = node
        self.leader = leader
