"""The Raft algorithm as a pure state machine (etcd-io/raft's Ready model).

``RaftNode`` does no I/O and reads no clock: the caller feeds it ``tick()``
(logical time) and ``step(message)`` (the network) and asks for work with
``ready()``: what to persist, send and apply. Randomness (election timeouts)
comes from the ``random.Random`` passed in, so a run is a pure function of
its inputs and can be replayed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from reference_system.raft.log import RaftLog
from reference_system.raft.messages import Message, MessageType, well_formed
from reference_system.raft.progress import Progress, ProgressState
from reference_system.raft.readindex import ReadIndex
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

MT = MessageType
_FROM_LEADER = (MT.APPEND, MT.HEARTBEAT, MT.SNAPSHOT)


class RaftNode:
    """One Raft member. Not thread-safe: drive it from one task or thread."""

    def __init__(
        self,
        config: RaftConfig,
        rng: random.Random,
        *,
        hard_state: HardState | None = None,
        snapshot: Snapshot | None = None,
        entries: Sequence[Entry] = (),
        applied: int | None = None,
    ) -> None:
        """Start (or restart) from persisted state: the last ``hard_state``, the
        last ``snapshot`` and the durable ``entries`` after it. ``applied`` is how
        far the application's state already reflects the log (default: the
        snapshot's index, i.e. committed entries are handed out again)."""
        self.cfg = config
        self.id = config.id
        self._rng = rng
        hs = hard_state or HardState()
        self.term = hs.term
        self.vote: NodeId | None = hs.vote
        self.log = RaftLog(
            snapshot,
            entries,
            hs.commit,
            applied,
            keep_conflicts="keep-conflicting-suffix" in config.planted,
            index_only_vote="vote-longer-log" in config.planted,
        )
        self.role = Role.FOLLOWER
        self.leader: NodeId | None = None
        self._durable = HardState(self.term, self.vote, self.log.committed)
        self._msgs: list[Message] = []
        self._read_states: list[ReadState] = []
        self._dropped_reads: list[bytes] = []
        self._outstanding: Ready | None = None

        self._now = 0  # ticks since construction
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._timeout = config.election_ticks
        self._leader_contact: int | None = None  # tick of the last message from a leader
        self._votes: dict[NodeId, bool] = {}

        self._progress: dict[NodeId, Progress] = {}
        self._bcast_pending = False
        self._transfer_to: NodeId | None = None
        self._heartbeat_pending = False
        self._reads = ReadIndex()
        self._become_follower(self.term, None)

    # -- public API ------------------------------------------------------------

    def tick(self) -> None:
        """Advance logical time by one tick (heartbeats, election timeouts, check-quorum)."""
        self._now += 1
        if self.role is Role.LEADER:
            self._tick_leader()
        else:
            self._election_elapsed += 1
            if self._election_elapsed >= self._timeout:
                self._election_elapsed = 0
                self.campaign()

    def step(self, m: Message) -> None:
        """Take in one message from a peer. Messages not for us, from strangers, or
        stale are ignored; nothing a peer sends can raise."""
        if m.dst != self.id or m.src not in self.cfg.peers or m.src == self.id:
            return
        if not well_formed(m):
            return  # a garbled or hostile peer: Raft's reasoning does not cover it
        if m.term > self.term:
            if m.type in (MT.PRE_VOTE, MT.VOTE) and self._in_lease() and not m.transfer:
                return  # we hear from a live leader: do not let a stray node disrupt it
            if m.type is MT.PRE_VOTE or (m.type is MT.PRE_VOTE_RESP and not m.reject):
                pass  # pre-votes are about a future term; they change nothing here
            else:
                self._become_follower(m.term, m.src if m.type in _FROM_LEADER else None)
        elif m.term < self.term:
            if m.type in (MT.APPEND, MT.HEARTBEAT) and (self.cfg.check_quorum or self.cfg.pre_vote):
                # A deposed leader: tell it our term so it steps down.
                self._send(MT.APPEND_RESP, m.src)
            elif m.type is MT.PRE_VOTE:
                self._send(MT.PRE_VOTE_RESP, m.src, reject=True)
            return

        if m.type in (MT.PRE_VOTE, MT.VOTE):
            self._handle_vote_request(m)
        elif self.role is Role.LEADER:
            self._step_leader(m)
        elif m.type in _FROM_LEADER:
            if self.role is not Role.FOLLOWER:
                self._become_follower(self.term, m.src)
            self._step_follower(m)
        elif m.type is MT.TIMEOUT_NOW and self.role is Role.FOLLOWER:
            self._campaign(pre_vote=False, transfer=True)
        elif m.type in (MT.PRE_VOTE_RESP, MT.VOTE_RESP):
            self._handle_vote_response(m)

    def propose(self, data: bytes) -> Entry:
        """Append a command; it is applied once it appears in ``committed_entries``
        with the same (term, index). Raises NotLeader on a non-leader."""
        return self.propose_batch([data])[0]

    def propose_batch(self, items: Sequence[bytes]) -> list[Entry]:
        """Append several commands at once (one replication round for all)."""
        if self.role is not Role.LEADER or self._transfer_to is not None:
            raise NotLeader(self.id, self._transfer_to or self.leader)
        first = self.log.last_index() + 1
        entries = [Entry(self.term, first + i, bytes(d)) for i, d in enumerate(items)]
        self._append(entries)
        return entries

    def read_index(self, ctx: bytes) -> None:
        """Ask for a linearizable read point. A ``ReadState(index, ctx)`` appears in a
        later Ready once this leader has confirmed with a quorum that it still
        leads; serve the read after applying ``index``. Raises NotLeader."""
        if self.role is not Role.LEADER:
            raise NotLeader(self.id, self.leader)
        if "read-no-quorum" in self.cfg.planted:
            # Planted bug: trusts check-quorum as if it were a lease -- but a paused or
            # cut-off leader keeps believing it leads, and a new one may be elected.
            self._read_states.append(ReadState(self.log.committed, ctx))
            return
        if self.log.term(self.log.committed) != self.term and not self._old_term_commit:
            # Our commit index is not known to be current until we commit in our term.
            self._reads.await_commit(ctx)
            return
        self._start_read_round([ctx])

    def campaign(self) -> None:
        """Start an election now (with pre-vote if configured), as on a timeout."""
        if self.role is Role.LEADER:
            return
        self._campaign(pre_vote=self.cfg.pre_vote, transfer=False)

    def transfer_leadership(self, to: NodeId) -> None:
        """Hand leadership to ``to``: catch it up, then tell it to campaign at once.
        Proposals are refused while the transfer is under way (an election timeout
        at most)."""
        if self.role is not Role.LEADER:
            raise NotLeader(self.id, self.leader)
        if to not in self.cfg.peers:
            raise ValueError(f"transfer_leadership: {to!r} is not one of {self.cfg.peers}")
        if to == self.id:
            return
        self._transfer_to = to
        self._election_elapsed = 0
        if self._progress[to].match == self.log.last_index():
            self._send(MT.TIMEOUT_NOW, to)
        else:
            self._send_append(to)

    def compact(self, index: int, snapshot_data: bytes) -> Snapshot:
        """The application persisted a snapshot of its state at ``index`` (at most
        the applied index); drop log entries up to there. Lagging followers are
        sent this snapshot. Returns the snapshot as kept."""
        if index > self.log.applied:
            raise ValueError(f"compact: index {index} is beyond applied {self.log.applied}")
        return self.log.compact(index, snapshot_data)

    def has_ready(self) -> bool:
        """Whether ``ready()`` would return any work."""
        self._flush()
        lg = self.log
        return bool(
            self._msgs
            or self._read_states
            or self._dropped_reads
            or lg.pending_snapshot is not None
            or lg.stable < lg.last_index()
            or lg.applied < lg.committed
            or self._hard_state() != self._durable
        )

    def ready(self) -> Ready:
        """Collect the work to do now (see ``Ready`` for the order). Call
        ``advance(ready)`` when done, before the next ``ready()``."""
        if self._outstanding is not None:
            raise RuntimeError("ready() called again before advance() of the previous Ready")
        self._flush()
        hs = self._hard_state()
        rd = Ready(
            hard_state=hs if hs != self._durable else None,
            entries=self.log.unstable_entries(),
            snapshot=self.log.pending_snapshot,
            committed_entries=self.log.committed_to_apply(),
            messages=self._msgs,
            read_states=self._read_states,
            dropped_reads=self._dropped_reads,
            vote_changed=(hs.term != self._durable.term or hs.vote != self._durable.vote)
            # Planted bug: the hard state treated as a hint, like the commit index alone.
            and "unsynced-vote" not in self.cfg.planted,
        )
        self._msgs, self._read_states, self._dropped_reads = [], [], []
        self._outstanding = rd
        return rd

    def advance(self, rd: Ready) -> None:
        """The caller persisted, sent and applied everything in ``rd``."""
        if rd is not self._outstanding:
            raise RuntimeError("advance() must be given the Ready returned by ready()")
        self._outstanding = None
        if rd.hard_state is not None:
            self._durable = rd.hard_state
        if rd.snapshot is not None and self.log.pending_snapshot == rd.snapshot:
            self.log.pending_snapshot = None
        if rd.entries:
            self.log.stable_to(rd.entries[-1].index, rd.entries[-1].term)
        if rd.committed_entries:
            self.log.applied_to(rd.committed_entries[-1].index)

    def status(self) -> Status:
        """Role, term, leader, commit and whether this node has quorum contact."""
        return Status(
            id=self.id,
            role=self.role,
            term=self.term,
            leader=self.leader,
            commit=self.log.committed,
            applied=self.log.applied,
            last_index=self.log.last_index(),
            quorum=self._has_quorum(),
        )

    # -- roles -----------------------------------------------------------------

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = None
        if self.role is Role.LEADER:
            self._dropped_reads += self._reads.drop()
        self.leader = None
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._timeout = self.cfg.election_ticks + self._rng.randrange(self.cfg.election_ticks)
        self._votes = {}
        self._progress = {}
        self._bcast_pending = False
        self._heartbeat_pending = False
        self._transfer_to = None

    def _become_follower(self, term: int, leader: NodeId | None) -> None:
        self._reset(term)
        self.role = Role.FOLLOWER
        self.leader = leader
        if leader is not None:
            self._leader_contact = self._now

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.role = Role.LEADER
        self.leader = self.id
        last = self.log.last_index()
        for p in self.cfg.peers:
            self._progress[p] = Progress(match=0, next=last + 1, last_heard=self._now)
        self._progress[self.id].match = last
        if self._old_term_commit:
            return  # planted bug: no entry of our own; earlier terms' entries commit by count
        # Entries of earlier terms commit only through one of our own (Raft section 5.4.2).
        self._append([Entry(self.term, last + 1, b"", EntryKind.NOOP)])

    def _campaign(self, pre_vote: bool, transfer: bool) -> None:
        if pre_vote:
            self._reset(self.term)
            self.role = Role.PRE_CANDIDATE
            term, kind = self.term + 1, MT.PRE_VOTE
        else:
            self._reset(self.term + 1)
            self.role = Role.CANDIDATE
            self.vote = self.id
            term, kind = self.term, MT.VOTE
        self._leader_contact = None
        if self._poll(self.id, True):
            return
        for p in self.cfg.peers:
            if p != self.id:
                self._msgs.append(
                    Message(
                        kind,
                        self.id,
                        p,
                        term,
                        index=self.log.last_index(),
                        log_term=self.log.last_term(),
                        transfer=transfer,
                    )
                )

    def _poll(self, voter: NodeId, granted: bool) -> bool:
        """Count a vote; move on if the election is decided. True if won."""
        self._votes[voter] = granted
        yes = sum(self._votes.values())
        no = len(self._votes) - yes
        need = self._election_quorum()
        if yes >= need:
            if self.role is Role.PRE_CANDIDATE:
                self._campaign(pre_vote=False, transfer=False)
            else:
                self._become_leader()
            return True
        if no > len(self.cfg.peers) - need:
            self._become_follower(self.term, None)
        return False

    def _handle_vote_request(self, m: Message) -> None:
        resp = MT.PRE_VOTE_RESP if m.type is MT.PRE_VOTE else MT.VOTE_RESP
        can_vote = (
            self.vote == m.src
            or (self.vote is None and self.leader is None)
            or (m.type is MT.PRE_VOTE and m.term > self.term)
        )
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            self._msgs.append(Message(resp, self.id, m.src, m.term))
            if m.type is MT.VOTE:
                self._election_elapsed = 0
                self.vote = m.src
        else:
            self._send(resp, m.src, reject=True)

    def _handle_vote_response(self, m: Message) -> None:
        if self.role is Role.PRE_CANDIDATE and m.type is MT.PRE_VOTE_RESP:
            expected = self.term if m.reject else self.term + 1
        elif self.role is Role.CANDIDATE and m.type is MT.VOTE_RESP:
            expected = self.term
        else:
            return
        if m.term == expected:
            self._poll(m.src, not m.reject)

    # -- leader ----------------------------------------------------------------

    def _tick_leader(self) -> None:
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        if self.cfg.check_quorum and not self.cfg.split_brain and not self._quorum_active():
            self._become_follower(self.term, None)
            return
        if self._election_elapsed >= self.cfg.election_ticks:
            self._election_elapsed = 0
            self._transfer_to = None  # a transfer that did not finish in time is abandoned
        for p, pr in self._progress.items():
            if pr.state is ProgressState.SNAPSHOT:
                pr.snapshot_ticks += 1
                if pr.snapshot_ticks > self.cfg.election_ticks:
                    pr.become_probe()  # the snapshot was probably lost: send it again
                    self._send_append(p)
        if self._heartbeat_elapsed >= self.cfg.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            self._heartbeat_pending = True

    def _step_leader(self, m: Message) -> None:
        pr = self._progress.get(m.src)
        if pr is None:
            return
        if m.type is MT.APPEND_RESP:
            pr.last_heard = self._now
            self._handle_append_response(m, pr)
        elif m.type is MT.HEARTBEAT_RESP:
            pr.last_heard = self._now
            pr.probe_sent = False
            if pr.state is ProgressState.REPLICATE and len(pr.inflight) >= self.cfg.max_inflight:
                pr.inflight.popleft()  # an ack may have been lost: let one more through
            if pr.match < self.log.last_index():
                self._send_append(m.src)
            if m.read_seq > pr.read_ack:
                pr.read_ack = m.read_seq
                self._confirm_reads()

    def _handle_append_response(self, m: Message, pr: Progress) -> None:
        if m.reject:
            hint = m.reject_hint
            if m.log_term > 0:
                hint, _ = self.log.find_conflict_by_term(m.reject_hint, m.log_term)
            if pr.maybe_decrease(m.index, hint):
                if pr.state is ProgressState.REPLICATE:
                    pr.become_probe()
                self._send_append(m.src)
            return
        was_paused = pr.is_paused(self.cfg.max_inflight)
        if not pr.maybe_update(m.index):
            return
        if pr.state is ProgressState.PROBE:
            pr.become_replicate()
        elif pr.state is ProgressState.SNAPSHOT and pr.match >= pr.pending_snapshot:
            pr.become_probe()
            pr.become_replicate()
        else:
            pr.free_to(m.index)
        if self._maybe_commit():
            self._bcast_pending = True
        elif was_paused:
            self._send_append(m.src)
        while self._send_append(m.src, send_empty=False):
            pass
        if m.src == self._transfer_to and pr.match == self.log.last_index():
            self._send(MT.TIMEOUT_NOW, m.src)

    def _append(self, entries: list[Entry]) -> None:
        self.log.append(entries)
        self._progress[self.id].maybe_update(self.log.last_index())
        self._bcast_pending = True
        self._maybe_commit()

    def _maybe_commit(self) -> bool:
        """Commit the highest index a majority holds, if it is from our term."""
        matches = sorted((pr.match for pr in self._progress.values()), reverse=True)
        n = matches[self._majority() - 1]
        if n <= self.log.committed:
            return False
        if self.log.term(n) != self.term and not self._old_term_commit:
            return False
        self.log.commit_to(n)
        held = self._reads.take_awaiting_commit()
        if held:
            self._start_read_round(held)
        return True

    def _send_append(self, to: NodeId, send_empty: bool = True) -> bool:
        """Send what ``to`` lacks (entries, or the snapshot); False if nothing was sent."""
        pr = self._progress[to]
        if pr.is_paused(self.cfg.max_inflight):
            return False
        prev = pr.next - 1
        prev_term = self.log.term(prev)
        if prev_term is None:
            snap = self.log.snapshot
            self._msgs.append(Message(MT.SNAPSHOT, self.id, to, self.term, snapshot=snap))
            pr.become_snapshot(snap.index)
            return True
        cfg = self.cfg
        entries = self.log.slice(
            pr.next, self.log.last_index(), cfg.max_entries_per_message, cfg.max_bytes_per_message
        )
        if not entries and not send_empty:
            return False
        self._msgs.append(
            Message(
                MT.APPEND,
                self.id,
                to,
                self.term,
                index=prev,
                log_term=prev_term,
                entries=tuple(entries),
                commit=self.log.committed,
            )
        )
        pr.sent(entries[-1].index if entries else prev, len(entries))
        return True

    def _flush(self) -> None:
        """Turn work batched since the last Ready into messages (one round for many
        proposals or reads)."""
        if self.role is not Role.LEADER:
            return
        if self._bcast_pending:
            self._bcast_pending = False
            for p in self.cfg.peers:
                if p != self.id and self._send_append(p):
                    # Replicating: fill the pipeline rather than wait for each ack.
                    while self._send_append(p, send_empty=False):
                        pass
        if self._heartbeat_pending:
            self._heartbeat_pending = False
            for p, pr in self._progress.items():
                if p != self.id:
                    commit = min(pr.match, self.log.committed)
                    self._msgs.append(
                        Message(
                            MT.HEARTBEAT,
                            self.id,
                            p,
                            self.term,
                            commit=commit,
                            read_seq=self._reads.round,
                        )
                    )

    # -- ReadIndex -------------------------------------------------------------

    def _start_read_round(self, ctxs: list[bytes]) -> None:
        self._reads.start_round(ctxs, self.log.committed)
        self._heartbeat_pending = True
        self._confirm_reads()

    def _confirm_reads(self) -> None:
        if not self._reads.pending:
            return
        acks = sorted(
            (
                self._reads.round if p == self.id else pr.read_ack
                for p, pr in self._progress.items()
            ),
            reverse=True,
        )
        self._read_states += self._reads.confirm(acks[self._election_quorum() - 1])

    # -- follower --------------------------------------------------------------

    def _step_follower(self, m: Message) -> None:
        self._election_elapsed = 0
        self.leader = m.src
        self._leader_contact = self._now
        if m.type is MT.APPEND:
            self._handle_append(m)
        elif m.type is MT.HEARTBEAT:
            self.log.commit_to(m.commit)
            self._send(MT.HEARTBEAT_RESP, m.src, read_seq=m.read_seq)
        else:
            self._handle_snapshot(m)

    def _handle_append(self, m: Message) -> None:
        lg = self.log
        prev, prev_term, entries = m.index, m.log_term, m.entries
        if prev < lg.committed:
            # Everything up to our commit index is settled; keep only what follows.
            entries = tuple(e for e in entries if e.index > lg.committed)
            if not entries:
                self._send(MT.APPEND_RESP, m.src, index=lg.committed)
                return
            prev = lg.committed
            prev_term = lg.term(prev) or 0
        last_new = lg.maybe_append(prev, prev_term, m.commit, entries)
        if last_new is not None:
            self._send(MT.APPEND_RESP, m.src, index=last_new)
            return
        hint, hint_term = lg.find_conflict_by_term(min(m.index, lg.last_index()), m.log_term)
        self._send(
            MT.APPEND_RESP, m.src, index=m.index, reject=True, reject_hint=hint, log_term=hint_term
        )

    def _handle_snapshot(self, m: Message) -> None:
        snap = m.snapshot
        lg = self.log
        if snap is None or snap.index <= lg.committed:
            self._send(MT.APPEND_RESP, m.src, index=lg.committed)
        elif lg.match_term(snap.index, snap.term):
            lg.commit_to(snap.index)  # we already hold the log it summarises
            self._send(MT.APPEND_RESP, m.src, index=lg.committed)
        else:
            lg.restore(snap)
            self._send(MT.APPEND_RESP, m.src, index=lg.last_index())

    # -- helpers ---------------------------------------------------------------

    def _send(self, kind: MessageType, to: NodeId, **fields: object) -> None:
        self._msgs.append(Message(kind, self.id, to, self.term, **fields))  # type: ignore[arg-type]

    def _hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    @property
    def _old_term_commit(self) -> bool:
        """Planted bug ``old-term-commit``: a replica count commits entries of any term."""
        return "old-term-commit" in self.cfg.planted

    def _majority(self) -> int:
        return len(self.cfg.peers) // 2 + 1

    def _election_quorum(self) -> int:
        """Votes (and ReadIndex acks) needed; the planted split-brain bug uses half."""
        if self.cfg.split_brain:
            return max(1, len(self.cfg.peers) // 2)
        return self._majority()

    def _in_lease(self) -> bool:
        return (
            self.cfg.check_quorum
            and self.leader is not None
            and self._election_elapsed < self.cfg.election_ticks
        )

    def _quorum_active(self) -> bool:
        """Whether a majority (us included) was heard from within an election timeout."""
        window = self.cfg.election_ticks
        heard = sum(
            1
            for p, pr in self._progress.items()
            if p == self.id or self._now - pr.last_heard <= window
        )
        return heard >= self._majority()

    def _has_quorum(self) -> bool:
        if self.role is Role.LEADER:
            return self.cfg.split_brain or self._quorum_active()
        if self.leader is None or self._leader_contact is None:
            return False
        return self._now - self._leader_contact <= self.cfg.election_ticks
