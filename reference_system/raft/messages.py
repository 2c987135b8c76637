"""The messages Raft nodes exchange: one flat value type, so a codec needs one
shape, and a message kind that says which fields matter."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from reference_system.raft.types import Entry, NodeId, Snapshot


class MessageType(enum.IntEnum):
    """Message kinds. Field use per kind is documented on ``Message``."""

    PRE_VOTE = 1
    PRE_VOTE_RESP = 2
    VOTE = 3
    VOTE_RESP = 4
    APPEND = 5
    APPEND_RESP = 6
    HEARTBEAT = 7
    HEARTBEAT_RESP = 8
    SNAPSHOT = 9
    #: leader transfer: the receiver campaigns at once, skipping pre-vote
    TIMEOUT_NOW = 10


@dataclass(frozen=True, slots=True)
class Message:
    """One Raft message from ``src`` to ``dst`` sent in ``term``.

    Fields by kind (unused fields keep their defaults):

    - ``PRE_VOTE``/``VOTE``: ``index``/``log_term`` = the candidate's last
      entry; ``transfer`` = campaign triggered by a leader transfer.
      For ``PRE_VOTE``, ``term`` is the term the candidate would move to.
    - ``PRE_VOTE_RESP``/``VOTE_RESP``: ``reject``.
    - ``APPEND``: ``index``/``log_term`` = the entry just before ``entries``;
      ``commit`` = the leader's commit index.
    - ``APPEND_RESP``: success: ``index`` = the follower's last index matching
      the leader; ``reject``: ``index`` = the rejected ``APPEND.index``,
      ``reject_hint``/``log_term`` = where the follower's log may match.
    - ``HEARTBEAT``: ``commit``; ``read_seq`` = the ReadIndex round it confirms.
    - ``HEARTBEAT_RESP``: ``read_seq`` echoed.
    - ``SNAPSHOT``: ``snapshot`` (acknowledged with ``APPEND_RESP``).
    - ``TIMEOUT_NOW``: nothing more.
    """

    type: MessageType
    src: NodeId
    dst: NodeId
    term: int
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    snapshot: Snapshot | None = None
    read_seq: int = 0
    transfer: bool = False


def well_formed(m: Message) -> bool:
    """Whether ``m`` is shaped as a correct peer would send it (numbers not
    negative, entries contiguous after ``index`` with terms that never go back
    and never exceed the sender's term)."""
    if min(m.term, m.index, m.log_term, m.commit, m.reject_hint, m.read_seq) < 0:
        return False
    if m.type is MessageType.APPEND:
        prev_term = m.log_term
        for k, e in enumerate(m.entries):
            if e.index != m.index + 1 + k or not prev_term <= e.term <= m.term:
                return False
            prev_term = e.term
        return m.log_term <= m.term
    if m.type is MessageType.SNAPSHOT:
        snap = m.snapshot
        return snap is not None and snap.index >= 0 and 0 <= snap.term <= m.term
    return not m.entries and m.snapshot is None
