"""The leader's side of ReadIndex: numbered confirmation rounds.

A read asked at commit index ``c`` joins round ``n``; heartbeats carry the
latest round number and followers echo it. Once a quorum (the leader
included) has echoed ``n`` or later, no other leader can have been elected
before the read was asked, so ``c`` covers every write that completed before
it: the read is released as ``ReadState(c, ctx)``.
"""

from __future__ import annotations

from collections import deque

from reference_system.raft.types import ReadState


class ReadIndex:
    """Reads waiting for leadership to be confirmed. One per node, kept across
    terms so that round numbers only grow."""

    def __init__(self) -> None:
        #: the latest round started; heartbeats carry it
        self.round = 0
        self._pending: deque[tuple[int, bytes, int]] = deque()  # (round, ctx, commit index)
        self._awaiting_commit: list[bytes] = []

    @property
    def pending(self) -> bool:
        """Whether any read waits for a quorum."""
        return bool(self._pending)

    def await_commit(self, ctx: bytes) -> None:
        """A new leader's commit index is not yet known to be current: hold the read."""
        self._awaiting_commit.append(ctx)

    def take_awaiting_commit(self) -> list[bytes]:
        """The reads held until the leader's first commit in its term."""
        ctxs, self._awaiting_commit = self._awaiting_commit, []
        return ctxs

    def start_round(self, ctxs: list[bytes], commit: int) -> None:
        """Start a round for ``ctxs``, all reading at ``commit``."""
        self.round += 1
        for ctx in ctxs:
            self._pending.append((self.round, ctx, commit))

    def confirm(self, confirmed_round: int) -> list[ReadState]:
        """A quorum echoed ``confirmed_round``: release every read of that round or older."""
        out = []
        while self._pending and self._pending[0][0] <= confirmed_round:
            _, ctx, index = self._pending.popleft()
            out.append(ReadState(index, ctx))
        return out

    def drop(self) -> list[bytes]:
        """Leadership is lost: give back the contexts of every read not released."""
        ctxs = [ctx for _, ctx, _ in self._pending] + self._awaiting_commit
        self._pending.clear()
        self._awaiting_commit = []
        return ctxs
