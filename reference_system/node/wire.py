"""Raft messages on the peer wire: ``Message`` <-> a compact JSON list.

A message travels as a fixed-order list rather than an object with field
names: AppendEntries batches are the bulk of peer traffic and the names would
double their size. Entry and snapshot data are bytes; they travel as latin-1
strings, which map every byte to one character and back, so any bytes survive
(the node only ever puts ASCII JSON in them, which latin-1 leaves unchanged).
"""

from __future__ import annotations

from typing import Any

from reference_system.raft.messages import Message, MessageType
from reference_system.raft.types import Entry, EntryKind, Snapshot


class WireError(ValueError):
    """A peer frame that does not hold a well-formed Raft message."""


def _entry_out(e: Entry) -> list[Any]:
    return [e.term, e.index, int(e.kind), e.data.decode("latin-1")]


def _entry_in(raw: Any) -> Entry:
    term, index, kind, data = raw
    return Entry(int(term), int(index), data.encode("latin-1"), EntryKind(kind))


def message_to_wire(m: Message) -> list[Any]:
    """The list form of ``m``."""
    snap = None
    if m.snapshot is not None:
        snap = [m.snapshot.index, m.snapshot.term, m.snapshot.data.decode("latin-1")]
    return [
        int(m.type),
        m.src,
        m.dst,
        m.term,
        m.log_term,
        m.index,
        [_entry_out(e) for e in m.entries],
        m.commit,
        int(m.reject),
        m.reject_hint,
        snap,
        m.read_seq,
        int(m.transfer),
    ]


def message_from_wire(raw: Any) -> Message:
    """Parse the list form; ``WireError`` if it is not one."""
    try:
        (
            typ,
            src,
            dst,
            term,
            log_term,
            index,
            entries,
            commit,
            reject,
            hint,
            snap,
            read_seq,
            transfer,
        ) = raw
        if not (isinstance(src, str) and isinstance(dst, str)):
            raise TypeError("src and dst must be strings")
        snapshot = None
        if snap is not None:
            snapshot = Snapshot(
                index=int(snap[0]), term=int(snap[1]), data=snap[2].encode("latin-1")
            )
        return Message(
            type=MessageType(typ),
            src=src,
            dst=dst,
            term=int(term),
            log_term=int(log_term),
            index=int(index),
            entries=tuple(_entry_in(e) for e in entries),
            commit=int(commit),
            reject=bool(reject),
            reject_hint=int(hint),
            snapshot=snapshot,
            read_seq=int(read_seq),
            transfer=bool(transfer),
        )
    except (TypeError, ValueError, AttributeError, UnicodeEncodeError) as exc:
        raise WireError(f"bad raft message: {exc}") from None
