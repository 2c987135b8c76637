"""A sans-I/O Raft core: feed it ticks and messages, take back a ``Ready`` of
things to persist, send and apply. See docs/raft.md."""

from reference_system.raft.core import RaftNode
from reference_system.raft.log import LogError
from reference_system.raft.messages import Message, MessageType
from reference_system.raft.types import (
    Entry,
    EntryKind,
    HardState,
    NodeId,
    NotLeader,
    RaftConfig,
    ReadState,
    Ready,
    Role,
    Snapshot,
    Status,
)

__all__ = [
    "Entry",
    "EntryKind",
    "HardState",
    "LogError",
    "Message",
    "MessageType",
    "NodeId",
    "NotLeader",
    "RaftConfig",
    "RaftNode",
    "ReadState",
    "Ready",
    "Role",
    "Snapshot",
    "Status",
]
