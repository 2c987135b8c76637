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
