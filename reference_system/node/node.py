"""One reference KV node: drives the pure Raft core with asyncio and a durable log.

The core (``reference_system.raft``) decides; this module only moves bytes and
time. One task, the *ready loop*, owns the core's Ready/advance cycle:

1. hand every proposal queued since the last round to the core in one batch
   (``propose_batch``) and start one ReadIndex round for every queued read;
2. take a ``Ready``: persist its entries and hard state with one fsync (group
   commit: what arrives meanwhile waits in the socket buffers and forms the
   next batch), then send its messages, apply its committed entries and
   answer the clients waiting on them, serve confirmed reads;
3. ``advance`` and repeat while there is work.

Linearizable reads use the core's ReadIndex (not a leader lease): a lease
depends on bounded clock drift and on pauses shorter than the lease, and this
lab pauses processes on purpose. ReadIndex costs one heartbeat round, shared by
every read queued in the same round.

Followers forward client requests to the leader over the peer link (clients do
not need to know leader addresses) and relay the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import Any

from reference_system import codec
from reference_system.node.context import received
from reference_system.node.options import NodeOptions
from reference_system.node.peers import PeerLink, PeerServer
from reference_system.node.requests import Reply, RequestPaths, error, resolve
from reference_system.node.wire import message_from_wire, message_to_wire
from reference_system.raft import (
    EntryKind,
    Message,
    MessageType,
    NotLeader,
    RaftConfig,
    RaftNode,
    Ready,
    Role,
)
from reference_system.statemachine import (
    Event,
    StateMachine,
)
from reference_system.storage import Storage

log = logging.getLogger("reference_system.node")

#: planted bugs that live in the Raft core (handed to it through ``RaftConfig.planted``)
CORE_BUGS = frozenset(
    {
        "old-term-commit",
        "vote-longer-log",
        "read-no-quorum",
        "keep-conflicting-suffix",
        "unsynced-vote",
    }
)

#: a leader or candidate that hears nothing from a peer this long redials its link to it
LINK_WATCH_S = 1.0
#: messages that answer ours, so their arrival proves our link to the sender works
_ANSWERS = frozenset(
    {
        MessageType.APPEND_RESP,
        MessageType.HEARTBEAT_RESP,
        MessageType.PRE_VOTE_RESP,
        MessageType.VOTE_RESP,
    }
)


class Node(RequestPaths):
    """The node's state and its Raft driver; ``serve`` in ``server.py`` runs it."""

    def __init__(self, opts: NodeOptions, seed: int) -> None:
        self.opts = opts
        self.id = opts.id
        self.bugs = opts.bugs
        self.storage = Storage(opts.data_dir, durable="no-fsync" not in self.bugs)
        rec = self.storage.load()
        self.sm = StateMachine()
        if rec.snapshot is not None:
            self.sm = StateMachine.restore(json.loads(rec.snapshot.data))
        config = RaftConfig(
            id=opts.id,
            peers=tuple(sorted([opts.id, *opts.peers])),
            election_ticks=opts.election_ticks,
            heartbeat_ticks=opts.heartbeat_ticks,
            split_brain="split-brain" in self.bugs,
            planted=frozenset(self.bugs & CORE_BUGS),
        )
        self.core = RaftNode(
            config,
            random.Random(seed),
            hard_state=rec.hard_state,
            snapshot=rec.snapshot,
            entries=rec.entries,
        )
        self.links = {pid: PeerLink(pid, addr, opts.id) for pid, addr in opts.peers.items()}
        self.peer_server = PeerServer(self.on_peer_frame, opts.id)
        #: called with each applied event; the client front end delivers it to subscribers
        self.on_event: Callable[[Event], None] = lambda event: None
        self._wake = asyncio.Event()
        self._proposals: list[tuple[bytes, asyncio.Future[Reply]]] = []
        self._waiting: dict[int, tuple[int, asyncio.Future[Reply]]] = {}  # index -> (term, fut)
        self._reads: list[tuple[dict[str, Any], asyncio.Future[Reply]]] = []
        self._read_rounds: dict[bytes, list[tuple[dict[str, Any], asyncio.Future[Reply]]]] = {}
        self._confirmed_reads: list[
            tuple[int, list[tuple[dict[str, Any], asyncio.Future[Reply]]]]
        ] = []
        self._round_ids = itertools.count(1)
        self._forwards: dict[int, asyncio.Future[Reply]] = {}
        self._forward_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        # Waiters with the reply they get if nothing else answers them in time. One
        # timeout for all, so the deque stays in deadline order; swept every tick.
        # (Cheaper than a wait_for, i.e. a task and a timer, per request.)
        self._deadlines: deque[tuple[float, asyncio.Future[Reply], Reply]] = deque()
        self._role = Role.FOLLOWER
        self._term = self.core.term
        #: the last log index made durable by an fsync (recovered entries are durable)
        self._synced_index = (
            rec.entries[-1].index if rec.entries else (rec.snapshot.index if rec.snapshot else 0)
        )
        #: loop time a frame last came from each peer (for the link watchdog)
        self._heard: dict[str, float] = {}

    # -- the ready loop --------------------------------------------------------

    def kick(self) -> None:
        """There may be work for the ready loop."""
        self._wake.set()

    async def tick_loop(self) -> None:
        """Logical time: one core tick per ``tick_ms``. Ticks are never caught up
        after a stall, so a starved node times out later, not in a burst."""
        interval = self.opts.tick_ms / 1000
        loop = asyncio.get_running_loop()
        last_watch = loop.time()
        for peer in self.links:
            self._heard.setdefault(peer, last_watch)
        while True:
            await asyncio.sleep(interval)
            self.core.tick()
            self.kick()
            now = loop.time()
            if now - last_watch >= LINK_WATCH_S / 2:
                last_watch = now
                self._watch_links(now)
            while self._deadlines and self._deadlines[0][0] <= now:
                _, fut, reply = self._deadlines.popleft()
                resolve(fut, reply)

    def _watch_links(self, now: float) -> None:
        """Redial links that look connected but carry nothing.

        Links are one-way, so a half-dead connection (a peer or proxy that went
        away without a reset) cannot be seen from the sending side. A leader gets
        an answer to every heartbeat and a campaigning node waits for votes: if
        such a node has had no *answer* from a peer (anything else the peer sends
        proves only the other direction) for ``LINK_WATCH_S`` over a link
        connected at least that long, it drops the link and dials again.
        """
        if self.core.role is Role.FOLLOWER:
            return
        for peer, link in self.links.items():
            quiet = now - self._heard.get(peer, 0.0)
            if (
                link.connected
                and now - link.connected_since > LINK_WATCH_S
                and quiet > LINK_WATCH_S
            ):
                log.info(
                    "%s: nothing from %s for %.1f s; redialling the link", self.id, peer, quiet
                )
                link.redial()

    def _waiter(self, on_timeout: Reply) -> asyncio.Future[Reply]:
        """A future for one answer; it gets ``on_timeout`` after ``request_timeout_s``."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Reply] = loop.create_future()
        self._deadlines.append((loop.time() + self.opts.request_timeout_s, fut, on_timeout))
        return fut

    async def ready_loop(self) -> None:
        """Persist, send, apply -- forever (see the module docstring)."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._submit_queued()
            while self.core.has_ready():
                rd = self.core.ready()
                if rd.snapshot is not None:
                    await loop.run_in_executor(
                        None,
                        functools.partial(
                            self.storage.save_snapshot, rd.snapshot, replace_log=True
                        ),
                    )
                early, rest = self._early_appends(rd)
                self.storage.append(rd.entries)
                if rd.hard_state is not None:
                    self.storage.set_hard_state(rd.hard_state)
                self._send(early)
                applied = False
                if rd.must_sync and self._durable_already(rd):
                    # Answer the clients of entries committed in earlier rounds now,
                    # not after this round's fsync: it would add one fsync to every
                    # write's latency. The yield lets their tasks write the replies
                    # before the loop blocks in the fsync.
                    applied = True
                    if self._apply(rd):
                        await asyncio.sleep(0)
                if rd.must_sync:
                    # Inline, not in a thread: while the fsync runs, requests and peer
                    # frames wait in the socket buffers and make the next batch just
                    # the same, and a thread hand-off per batch cost more CPU per
                    # write than it saved (measured: ~25% more on leader and followers).
                    self.storage.sync()
                    if rd.entries:
                        self._synced_index = rd.entries[-1].index
                    elif rd.snapshot is not None:
                        self._synced_index = rd.snapshot.index
                if "lost-ack" in self.bugs:
                    self._ack_early(rd)
                self._send(rest)
                if not applied:
                    self._apply(rd)
                self.core.advance(rd)
                self._notice_role_change()
                await self._maybe_compact(loop)
                self._submit_queued()

    def _submit_queued(self) -> None:
        if self._proposals:
            batch, self._proposals = self._proposals, []
            try:
                entries = self.core.propose_batch([data for data, _ in batch])
            except NotLeader as exc:
                for _, fut in batch:
                    resolve(fut, self._not_leader(exc.leader))
            else:
                for entry, (_, fut) in zip(entries, batch, strict=True):
                    self._waiting[entry.index] = (entry.term, fut)
        if self._reads:
            batch_reads, self._reads = self._reads, []
            ctx = str(next(self._round_ids)).encode()
            try:
                self.core.read_index(ctx)
            except NotLeader as exc:
                for _, fut in batch_reads:
                    resolve(fut, self._not_leader(exc.leader))
            else:
                self._read_rounds[ctx] = batch_reads

    def _durable_already(self, rd: Ready) -> bool:
        """Whether ``rd``'s committed entries were on this node's disk before this round.

        Then applying them (and answering their clients) cannot get ahead of an
        fsync: a commit counts a leader's own copy only once it is durable, except
        for entries appended in this very round (a one-node cluster commits at
        once), and those are excluded here.
        """
        if rd.snapshot is not None:
            return False
        if not rd.committed_entries:
            return True
        last = rd.committed_entries[-1].index
        return last <= self._synced_index and (not rd.entries or rd.entries[0].index > last)

    def _early_appends(self, rd: Ready) -> tuple[list[Message], list[Message]]:
        """Split the leader's AppendEntries off, to go out while its own fsync runs.

        Raft's thesis (10.2.1) lets a leader replicate in parallel with its own
        disk write. Safe here because a commit that counts the leader's copy is
        only acted on -- applied, acknowledged to clients, sent to followers as a
        commit index, used for ReadIndex -- in a later Ready, which this loop
        takes only after the fsync has returned. Everything else (votes, acks,
        anything after a term change) waits for the fsync, as the core asks.
        """
        durable_term = self.storage.hard_state.term
        term_changes = rd.hard_state is not None and rd.hard_state.term != durable_term
        if self.core.role is not Role.LEADER or term_changes or not rd.must_sync:
            return [], rd.messages
        early = [m for m in rd.messages if m.type is MessageType.APPEND and m.term == durable_term]
        return early, [
            m for m in rd.messages if not (m.type is MessageType.APPEND and m.term == durable_term)
        ]

    def _send(self, messages: list[Message]) -> None:
        by_peer: dict[str, list[Any]] = {}
        for m in messages:
            by_peer.setdefault(m.dst, []).append(message_to_wire(m))
        for peer, msgs in by_peer.items():
            link = self.links.get(peer)
            if link is not None:
                link.send(codec.encode_plain({"t": "r", "from": self.id, "ms": msgs}))

    def _apply(self, rd: Ready) -> bool:
        """Step 3 and 4 of the Ready; whether any waiting client was answered."""
        answered = False
        if rd.snapshot is not None:
            self.sm = StateMachine.restore(json.loads(rd.snapshot.data))
            log.info("%s: installed the leader's snapshot at index %d", self.id, rd.snapshot.index)
        for e in rd.committed_entries:
            waiter = self._waiting.pop(e.index, None)
            if e.kind == EntryKind.NOOP:
                self.sm.applied_index = e.index
                result: Reply = {"ok": True}
            else:
                result, event = self.sm.apply(e.index, json.loads(e.data))
                if event is not None:
                    self.on_event(event)
            if waiter is not None:
                term, fut = waiter
                # Another leader's entry took this index: ours can never commit.
                resolve(fut, result if term == e.term else error("not_leader", "lost leadership"))
                answered = True
        for rs in rd.read_states:
            batch = self._read_rounds.pop(rs.ctx, [])
            self._confirmed_reads.append((rs.index, batch))
        for ctx in rd.dropped_reads:
            for _, fut in self._read_rounds.pop(ctx, []):
                resolve(fut, self._not_leader(None))
        if self._confirmed_reads:
            still = []
            for index, batch in self._confirmed_reads:
                if index > self.sm.applied_index:
                    still.append((index, batch))
                    continue
                for cmd, fut in batch:
                    resolve(fut, self.sm.read(cmd))
                    answered = True
            self._confirmed_reads = still
        return answered

    def _ack_early(self, rd: Ready) -> None:
        """Planted bug ``lost-ack``: answer a write once it is in the leader's own log."""
        if self.core.role is not Role.LEADER:
            return
        for e in rd.entries:
            waiter = self._waiting.pop(e.index, None)
            if waiter is not None and e.kind == EntryKind.NORMAL:
                resolve(waiter[1], self.sm.preview(json.loads(e.data)))

    def _notice_role_change(self) -> None:
        role, term = self.core.role, self.core.term
        if role is self._role and term == self._term:
            return
        log.info("%s: %s in term %d (leader: %s)", self.id, role, term, self.core.leader)
        if self._role is Role.LEADER and role is not Role.LEADER:
            # Our uncommitted entries may or may not survive under the next leader.
            waiting, self._waiting = self._waiting, {}
            for _, fut in waiting.values():
                resolve(fut, error("unknown", "lost leadership; the write may or may not commit"))
            for _, batch in self._confirmed_reads:
                for _, fut in batch:
                    resolve(fut, self._not_leader(None))
            self._confirmed_reads = []
        self._role, self._term = role, term

    async def _maybe_compact(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.storage.log_length < self.opts.snapshot_entries:
            return
        data = json.dumps(self.sm.snapshot()).encode()
        snap = self.core.compact(self.sm.applied_index, data)
        await loop.run_in_executor(None, self.storage.save_snapshot, snap)
        log.info("%s: snapshot at index %d (%d bytes)", self.id, snap.index, len(data))

    # -- peer frames -------------------------------------------------------------

    def on_peer_frame(self, frame: dict[str, Any]) -> None:
        """Dispatch one frame from a peer (bad ones raise; the peer server logs and drops them)."""
        kind = frame.get("t")
        if kind == "r":
            for raw in frame["ms"]:
                m = message_from_wire(raw)
                if m.type in _ANSWERS:
                    self._heard[m.src] = asyncio.get_running_loop().time()
                self.core.step(m)
            self.kick()
        elif kind == "fwd":
            self.spawn(self._answer_forward(frame))
        elif kind == "rep":
            if isinstance(frame.get("from"), str):
                self._heard[frame["from"]] = asyncio.get_running_loop().time()
            fut = self._forwards.pop(frame["fid"], None)
            if fut is not None and isinstance(frame.get("reply"), dict):
                resolve(fut, frame["reply"])
        elif kind == "reg" and "registry-no-sync" in self.bugs:
            self.sm.register_local(str(frame["name"]), str(frame["owner"]))

    async def _answer_forward(self, frame: dict[str, Any]) -> None:
        req, sender = frame.get("req"), frame.get("from")
        if not isinstance(req, dict) or sender not in self.links:
            return
        reply = await self.execute(req, received(frame.get("ctx")), forwarded=True)
        rep = {"t": "rep", "from": self.id, "fid": frame.get("fid"), "reply": reply}
        self.links[sender].send(codec.encode(rep))

    def spawn(self, coro: Any) -> None:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop background work and close links and storage."""
        for task in list(self._tasks):
            task.cancel()
        for link in self.links.values():
            await link.close()
        await self.peer_server.close()
        with contextlib.suppress(Exception):
            self.storage.close()
