"""A simulated network of sans-I/O Raft cores, driven by one seeded RNG.

Each step of a schedule is one action picked at random: tick a node, deliver
one in-flight message (picked at random, so messages are delayed and
reordered), handle a node's Ready (persist to its simulated disk, send, apply),
propose, ask for a read, cut or heal a partition, crash a node (losing
everything not yet on its disk) or restart one from its disk, or compact a
log into a snapshot. Sends drop or duplicate messages at configured rates.

After every action the invariants of Raft (Figure 3 of the paper) are
checked and a ``SafetyViolation`` is raised on the first one broken:
election safety, log matching, leader completeness, state-machine safety,
plus linearizable ReadIndex reads. Same seed, same run.

Two ways it stays honest about what a real deployment sees: reads are asked
of *any* node that believes it leads (a deposed leader included), not only
the one with the highest term; and a hard state that its Ready did not
require to be synced sits in the page cache, lost if the machine crashes
before a later sync.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reference_system.raft import (
    Entry,
    EntryKind,
    HardState,
    Message,
    NotLeader,
    RaftConfig,
    RaftNode,
    Ready,
    Role,
    Snapshot,
)


class SafetyViolation(AssertionError):
    """A Raft safety property does not hold; ``prop`` names which."""

    def __init__(self, prop: str, detail: str) -> None:
        super().__init__(f"{prop}: {detail}")
        self.prop = prop


@dataclass(frozen=True)
class Faults:
    """How hostile the simulated network and machines are."""

    drop: float = 0.0  # chance a sent message is lost
    duplicate: float = 0.0  # chance a sent message is delivered twice
    partitions: bool = False  # cut and heal random partitions
    crashes: bool = False  # crash nodes and restart them from disk
    compaction: bool = False  # compact logs into snapshots
    #: how often, relative to the default, faults (partition changes, crashes,
    #: restarts, compactions) are picked
    churn: float = 1.0


@dataclass
class Disk:
    """What a node has made durable: survives a crash."""

    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot | None = None
    entries: list[Entry] = field(default_factory=list)
    #: written but not synced (the page cache): durable at the next sync, lost in a crash
    unsynced_hard_state: HardState | None = None


@dataclass
class SimNode:
    """One simulated machine: a core (None while crashed), its disk and state machine."""

    id: str
    disk: Disk
    core: RaftNode | None = None
    #: the state machine: index -> (term, data) of every applied entry
    applied: dict[int, tuple[int, bytes]] = field(default_factory=dict)
    applied_index: int = 0


def encode_state(applied: dict[int, tuple[int, bytes]], upto: int) -> bytes:
    """Snapshot data for the simulated state machine up to ``upto``."""
    rows = [[i, t, d.hex()] for i, (t, d) in sorted(applied.items()) if i <= upto]
    return json.dumps(rows).encode()


def decode_state(data: bytes) -> dict[int, tuple[int, bytes]]:
    """The inverse of ``encode_state``."""
    return {i: (t, bytes.fromhex(d)) for i, t, d in json.loads(data or b"[]")}


class Sim:
    """A cluster of Raft cores on a simulated network. Deterministic for a seed."""

    def __init__(
        self,
        nodes: int = 3,
        seed: int = 0,
        faults: Faults | None = None,
        *,
        split_brain: bool = False,
        planted: frozenset[str] = frozenset(),
        election_ticks: int = 10,
        pre_vote: bool = True,
        check_quorum: bool = True,
        max_entries_per_message: int = 4,
    ) -> None:
        self.rng = random.Random(seed)
        self.faults = faults or Faults()
        self.ids = tuple(f"n{i}" for i in range(1, nodes + 1))
        self.cfg = {
            i: RaftConfig(
                id=i,
                peers=self.ids,
                election_ticks=election_ticks,
                heartbeat_ticks=max(1, election_ticks // 5),
                pre_vote=pre_vote,
                check_quorum=check_quorum,
                # small by default, so batching and pipelining are exercised
                max_entries_per_message=max_entries_per_message,
                max_inflight=3,
                split_brain=split_brain,
                planted=planted,
            )
            for i in self.ids
        }
        self.nodes = {i: SimNode(i, Disk()) for i in self.ids}
        for i in self.ids:
            self._boot(i)
        self.in_flight: list[Message] = []
        self.groups: dict[str, int] | None = None  # node -> side of the partition
        self.leaders: dict[int, str] = {}  # term -> the one leader seen in it
        self.committed: dict[int, tuple[int, bytes, EntryKind]] = {}  # applied anywhere
        self.reads: dict[bytes, int] = {}  # pending read ctx -> index it must reach
        self.proposals = 0
        self.reads_served = 0
        self.max_term = 0

    # -- machines ----------------------------------------------------------------

    def _boot(self, i: str) -> None:
        node = self.nodes[i]
        d = node.disk
        node.core = RaftNode(
            self.cfg[i],
            random.Random(self.rng.getrandbits(32)),
            hard_state=d.hard_state,
            snapshot=d.snapshot,
            entries=list(d.entries),
        )
        node.applied = decode_state(d.snapshot.data) if d.snapshot else {}
        node.applied_index = d.snapshot.index if d.snapshot else 0

    def crash(self, i: str) -> None:
        """Stop ``i`` abruptly: whatever it had not persisted or synced is gone."""
        self.nodes[i].core = None
        self.nodes[i].disk.unsynced_hard_state = None

    def restart(self, i: str) -> None:
        """Start ``i`` again from its disk."""
        if self.nodes[i].core is None:
            self._boot(i)

    def live(self) -> list[SimNode]:
        """The machines currently running."""
        return [n for n in self.nodes.values() if n.core is not None]

    def leader(self) -> SimNode | None:
        """A live leader, if any (the one with the highest term)."""
        best = None
        for n in self.live():
            assert n.core is not None
            if n.core.role is Role.LEADER and (best is None or n.core.term > best.core.term):  # type: ignore[union-attr]
                best = n
        return best

    # -- network -----------------------------------------------------------------

    def send(self, m: Message) -> None:
        """Put a message on the wire, subject to loss and duplication."""
        if self.rng.random() < self.faults.drop:
            return
        self.in_flight.append(m)
        if self.rng.random() < self.faults.duplicate:
            self.in_flight.append(m)

    def connected(self, a: str, b: str) -> bool:
        """Whether a message from ``a`` reaches ``b`` now."""
        return self.groups is None or self.groups[a] == self.groups[b]

    def deliver_one(self) -> None:
        """Deliver one in-flight message, chosen at random (delay and reordering)."""
        if not self.in_flight:
            return
        k = self.rng.randrange(len(self.in_flight))
        self.in_flight[k], self.in_flight[-1] = self.in_flight[-1], self.in_flight[k]
        m = self.in_flight.pop()
        self._step(m)

    def _step(self, m: Message) -> None:
        core = self.nodes[m.dst].core
        if core is None or not self.connected(m.src, m.dst):
            return
        core.step(m)

    def partition(self) -> None:
        """Split the nodes into two random sides (one may be a lone node)."""
        ids = list(self.ids)
        if len(ids) < 2:
            return
        self.rng.shuffle(ids)
        cut = self.rng.randrange(1, len(ids))
        self.groups = {i: (0 if k < cut else 1) for k, i in enumerate(ids)}

    def split(self, *sides: tuple[str, ...]) -> None:
        """Cut the network into the given sides (nodes not named form one more side)."""
        self.groups = {i: len(sides) for i in self.ids}
        for k, side in enumerate(sides):
            for i in side:
                self.groups[i] = k

    def deliver(self, pred: Callable[[Message], bool] = lambda m: True) -> int:
        """Deliver every in-flight message matching ``pred`` (in send order); keep
        the rest in flight. Returns how many were delivered."""
        hits = [m for m in self.in_flight if pred(m)]
        self.in_flight = [m for m in self.in_flight if not pred(m)]
        for m in hits:
            self._step(m)
        return len(hits)

    def drop(self, pred: Callable[[Message], bool] = lambda m: True) -> None:
        """Lose every in-flight message matching ``pred``."""
        self.in_flight = [m for m in self.in_flight if not pred(m)]

    def heal(self) -> None:
        """Remove any partition."""
        self.groups = None

    # -- the Ready loop ----------------------------------------------------------

    def handle_ready(self, i: str) -> None:
        """Do what the node's Ready asks, in the contract's order."""
        node = self.nodes[i]
        core = node.core
        if core is None or not core.has_ready():
            return
        rd = core.ready()
        self._persist(node.disk, rd)
        for m in rd.messages:
            self.send(m)
        if rd.snapshot is not None:
            node.applied = decode_state(rd.snapshot.data)
            node.applied_index = rd.snapshot.index
        for e in rd.committed_entries:
            self._apply(node, e)
        for rs in rd.read_states:
            need = self.reads.pop(rs.ctx, None)
            if need is not None and rs.index < need:
                raise SafetyViolation(
                    "linearizable read",
                    f"{i} read at index {rs.index} but {need} was committed before the read",
                )
            self.reads_served += 1
        for ctx in rd.dropped_reads:
            self.reads.pop(ctx, None)
        core.advance(rd)

    @staticmethod
    def _persist(disk: Disk, rd: Ready) -> None:
        if rd.hard_state is not None:
            disk.unsynced_hard_state = rd.hard_state
        if not rd.must_sync:
            return  # written, not synced: only a later sync makes it durable
        if disk.unsynced_hard_state is not None:
            disk.hard_state, disk.unsynced_hard_state = disk.unsynced_hard_state, None
        if rd.snapshot is not None:
            disk.snapshot = rd.snapshot
            disk.entries = []
        if rd.entries:
            first = rd.entries[0].index
            disk.entries = [e for e in disk.entries if e.index < first] + list(rd.entries)

    def _apply(self, node: SimNode, e: Entry) -> None:
        if e.index != node.applied_index + 1:
            raise SafetyViolation(
                "apply order", f"{node.id} applied {e.index} after {node.applied_index}"
            )
        node.applied_index = e.index
        node.applied[e.index] = (e.term, e.data)
        seen = self.committed.setdefault(e.index, (e.term, e.data, e.kind))
        if seen != (e.term, e.data, e.kind):
            raise SafetyViolation(
                "state-machine safety",
                f"{node.id} applied {(e.term, e.data)} at {e.index}, another node {seen[:2]}",
            )

    def compact(self, i: str) -> None:
        """Snapshot ``i``'s state machine at its applied index and trim its log."""
        node = self.nodes[i]
        core = node.core
        if core is None or node.applied_index <= (core.log.snapshot.index + 2):
            return
        upto = node.applied_index
        term = core.log.term(upto)
        assert term is not None
        data = encode_state(node.applied, upto)
        node.disk.snapshot = Snapshot(upto, term, data)  # persist first, then tell the core
        node.disk.entries = [e for e in node.disk.entries if e.index > upto]
        core.compact(upto, data)

    # -- client actions ----------------------------------------------------------

    def propose(self) -> None:
        """Propose a unique command on a node that believes it leads, if there is one
        (mostly the newest leader; sometimes a deposed one, whose log then grows with
        entries that can never commit)."""
        believers = self.believers()
        if not believers:
            return
        n = self.leader() if self.rng.random() < 0.7 else self.rng.choice(believers)
        assert n is not None and n.core is not None
        self.proposals += 1
        try:
            if self.rng.random() < 0.3:
                n.core.propose_batch([b"v%d.%d" % (self.proposals, k) for k in range(3)])
            else:
                n.core.propose(b"v%d" % self.proposals)
        except NotLeader:
            pass

    def believers(self) -> list[SimNode]:
        """Every live node that believes it leads (a deposed leader may still)."""
        return [n for n in self.live() if n.core is not None and n.core.role is Role.LEADER]

    def read(self) -> None:
        """Ask a node that believes it leads for a ReadIndex; it must cover everything
        committed so far -- a client cannot tell a deposed leader from the real one."""
        believers = self.believers()
        if not believers:
            return
        n = self.rng.choice(believers)
        assert n.core is not None
        ctx = b"r%d" % self.rng.getrandbits(48)
        try:
            n.core.read_index(ctx)
        except NotLeader:
            return
        self.reads[ctx] = max(self.committed, default=0)

    # -- invariants --------------------------------------------------------------

    def check(self) -> None:
        """Election safety and leader completeness, on every call."""
        for n in self.live():
            core = n.core
            assert core is not None
            self.max_term = max(self.max_term, core.term)
            if core.role is not Role.LEADER:
                continue
            first = self.leaders.setdefault(core.term, n.id)
            if first != n.id:
                raise SafetyViolation(
                    "election safety", f"{first} and {n.id} both leaders in term {core.term}"
                )
            for index, (term, data, _) in self.committed.items():
                if term < core.term and index > core.log.snapshot.index:
                    held = core.log.term(index)
                    if held != term or core.log.entry(index).data != data:
                        raise SafetyViolation(
                            "leader completeness",
                            f"leader {n.id} of term {core.term} lacks committed entry {index}",
                        )

    def check_logs(self) -> None:
        """Log matching: same (index, term) in two logs means identical prefixes."""
        logs = [(n.id, n.core.log) for n in self.live()]  # type: ignore[union-attr]
        for a in range(len(logs)):
            for b in range(a + 1, len(logs)):
                (ia, la), (ib, lb) = logs[a], logs[b]
                lo = max(la.first_index(), lb.first_index())
                hi = min(la.last_index(), lb.last_index())
                top = next((k for k in range(hi, lo - 1, -1) if la.term(k) == lb.term(k)), None)
                if top is None:
                    continue
                for k in range(lo, top + 1):
                    if la.entry(k) != lb.entry(k):
                        raise SafetyViolation(
                            "log matching",
                            f"{ia} and {ib} agree at ({top}, {la.term(top)}) but differ at {k}",
                        )

    # -- schedules ---------------------------------------------------------------

    def step_random(self) -> None:
        """One random action, then the invariants."""
        r = self.rng.random()
        ids = self.ids
        f = self.faults
        # Time and messages dominate; by default faults are rare enough that an
        # election (10-20 ticks of one node, ~100 actions) can finish between them.
        if r < 0.30:
            core = self.nodes[self.rng.choice(ids)].core
            if core is not None:
                core.tick()
        elif r < 0.65:
            self.deliver_one()
        elif r < 0.88:
            self.handle_ready(self.rng.choice(ids))
        elif r < 0.95:
            self.propose()
        elif r < 0.98:
            self.read()
        else:
            self._fault(f, (r - 0.98) / 0.02)
        if len(self.in_flight) > 400:  # a congested link loses messages
            self.rng.shuffle(self.in_flight)
            del self.in_flight[200:]
        self.check()

    def _fault(self, f: Faults, r: float) -> None:
        """Maybe one fault; ``r`` in [0, 1) picks which."""
        if self.rng.random() >= 0.3 * f.churn:
            return
        i = self.rng.choice(self.ids)
        if r < 0.2:
            if f.partitions:
                self.heal() if self.groups is not None else self.partition()
        elif r < 0.3:
            # An election timer firing early (clock skew, a GC pause elsewhere):
            # overlapping elections are where voting bugs hide.
            core = self.nodes[i].core
            if core is not None:
                core.campaign()
        elif r < 0.4:
            if f.crashes:
                self.crash(i)
        elif r < 0.6:
            if f.crashes:  # a reboot: lose what was not persisted, come straight back
                self.crash(i)
                self.restart(i)
        elif r < 0.8:
            if f.crashes:
                self.restart(i)
        elif r < 0.85:
            lead = self.leader()
            if lead is not None and lead.id != i:
                lead.core.transfer_leadership(i)  # type: ignore[union-attr]
        elif f.compaction:
            self.compact(i)

    def run(self, steps: int, check_logs_every: int = 50) -> None:
        """Run ``steps`` random actions, checking invariants as it goes."""
        for k in range(steps):
            self.step_random()
            if k % check_logs_every == 0:
                self.check_logs()
        self.check_logs()

    def settle(self, max_ticks: int = 500) -> int:
        """Heal everything, restart crashed nodes and run a fault-free network
        until one leader with quorum has committed a new entry on every node.
        Returns the ticks it took; raises AssertionError if it never does."""
        self.heal()
        for i in self.ids:
            self.restart(i)
        saved, self.faults = self.faults, Faults()
        marker: Entry | None = None
        try:
            for t in range(max_ticks):
                for n in self.live():
                    n.core.tick()  # type: ignore[union-attr]
                self.flush()
                self.check()
                lead = self.leader()
                if lead is None or not lead.core.status().quorum:  # type: ignore[union-attr]
                    continue
                if marker is None or lead.core.log.term(marker.index) != marker.term:  # type: ignore[union-attr]
                    try:
                        marker = lead.core.propose(b"settle")  # type: ignore[union-attr]
                    except NotLeader:
                        continue
                    self.flush()
                if all(
                    n.applied.get(marker.index) == (marker.term, b"settle") for n in self.live()
                ):
                    self.check_logs()
                    return t
        finally:
            self.faults = saved
        raise AssertionError(f"no leader committed an entry on all nodes within {max_ticks} ticks")

    def run_ticks(self, ticks: int) -> None:
        """Tick every live node ``ticks`` times, letting the network settle after each."""
        for _ in range(ticks):
            for n in self.live():
                n.core.tick()  # type: ignore[union-attr]
            self.flush()
            self.check()

    def flush(self, rounds: int = 20) -> None:
        """Handle readies and deliver messages until the network is quiet."""
        for _ in range(rounds):
            for i in self.ids:
                self.handle_ready(i)
            if not self.in_flight:
                return
            msgs, self.in_flight = self.in_flight, []
            for m in msgs:
                self._step(m)


def minimise(
    build: Callable[[Faults], Sim], faults: Faults, steps: int, budget_s: float
) -> tuple[Faults, SafetyViolation | None]:
    """The fewest fault kinds under which ``build(faults).run(steps)`` still breaks a
    property, found greedily (one kind switched off at a time) within ``budget_s``.

    A schedule is a pure function of its seed, so shrinking the seed only finds
    unrelated schedules; dropping fault kinds keeps the seed and says which
    faults the violation needs. Time-capped so that a broken property is
    reported as that, never as the layer's timeout.
    """
    deadline = time.monotonic() + budget_s
    simpler = {"drop": 0.0, "duplicate": 0.0, "partitions": False, "crashes": False}
    simpler |= {"compaction": False, "churn": 1.0}
    best, violation = faults, None
    for name, plain in simpler.items():
        if time.monotonic() >= deadline:
            break
        if getattr(best, name) == plain:
            continue
        trial = dataclasses.replace(best, **{name: plain})
        try:
            build(trial).run(steps)
        except SafetyViolation as v:
            best, violation = trial, v
    return best, violation
