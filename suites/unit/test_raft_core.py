"""Directed tests of the sans-I/O Raft core: one behaviour each, driven by hand
through the simulated network in raft_sim.py (no sockets, no clocks)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from raft_sim import Sim

from reference_system.raft import (
    Entry,
    EntryKind,
    HardState,
    Message,
    MessageType,
    NotLeader,
    RaftConfig,
    RaftNode,
    Role,
    Snapshot,
)

pytestmark = pytest.mark.unit

MT = MessageType


def elect(sim: Sim, who: str = "n1") -> RaftNode:
    """Make ``who`` leader by starting an election and letting the network settle."""
    core = sim.nodes[who].core
    assert core is not None
    core.campaign()
    sim.flush()
    assert core.role is Role.LEADER, core.status()
    return core


def core_of(sim: Sim, i: str) -> RaftNode:
    core = sim.nodes[i].core
    assert core is not None
    return core


def data_applied(sim: Sim, i: str) -> list[bytes]:
    return [d for _, (_, d) in sorted(sim.nodes[i].applied.items()) if d]


# -- elections -------------------------------------------------------------------


def test_single_node_elects_itself_and_commits_at_once():
    sim = Sim(1, seed=1)
    sim.run_ticks(25)
    core = core_of(sim, "n1")
    assert core.role is Role.LEADER and core.status().quorum
    entry = core.propose(b"x")
    sim.flush()
    assert data_applied(sim, "n1") == [b"x"]
    assert core.status().commit == entry.index


def test_timeouts_elect_one_leader_that_everyone_follows():
    sim = Sim(5, seed=7)
    sim.run_ticks(60)
    leaders = [n.id for n in sim.live() if n.core.role is Role.LEADER]
    assert len(leaders) == 1
    for n in sim.live():
        st = n.core.status()
        assert st.leader == leaders[0] and st.quorum and st.term == sim.max_term


def test_randomized_timeouts_come_from_the_given_rng():
    def first_campaign_tick(seed: int) -> int:
        cfg = RaftConfig("n1", ("n1", "n2", "n3"), election_ticks=10)
        core = RaftNode(cfg, random.Random(seed))
        for t in range(1, 100):
            core.tick()
            if core.role is not Role.FOLLOWER:
                return t
        raise AssertionError("never campaigned")

    ticks = {first_campaign_tick(s) for s in range(30)}
    assert ticks <= set(range(10, 20)) and len(ticks) > 3
    assert first_campaign_tick(5) == first_campaign_tick(5)


def test_a_vote_survives_a_restart():
    # n3 voted for n1 in term 4 and crashed; n2 now asks for its vote in term 4.
    cfg = RaftConfig("n3", ("n1", "n2", "n3"), pre_vote=False)
    core = RaftNode(cfg, random.Random(1), hard_state=HardState(term=4, vote="n1"))
    core.step(Message(MT.VOTE, "n2", "n3", 4))
    (resp,) = core.ready().messages
    assert resp.type is MT.VOTE_RESP and resp.reject


def test_no_vote_for_a_candidate_with_an_older_log():
    cfg = RaftConfig("n3", ("n1", "n2", "n3"), pre_vote=False)
    log = [Entry(1, 1), Entry(2, 2)]
    core = RaftNode(cfg, random.Random(1), hard_state=HardState(term=2), entries=log)
    core.step(Message(MT.VOTE, "n2", "n3", 3, index=5, log_term=1))  # longer but older term
    (resp,) = core.ready().messages
    assert resp.reject and core.term == 3 and core.vote is None


def test_pre_vote_keeps_an_isolated_node_from_raising_the_term():
    sim = Sim(3, seed=2)
    elect(sim, "n1")
    sim.split(("n3",))
    sim.run_ticks(100)
    assert core_of(sim, "n3").term == core_of(sim, "n1").term  # asked, never raised
    sim.heal()
    sim.run_ticks(30)
    assert core_of(sim, "n1").role is Role.LEADER  # rejoining did not depose it


def test_without_pre_vote_an_isolated_node_raises_the_term():
    sim = Sim(3, seed=2, pre_vote=False)
    elect(sim, "n1")
    sim.split(("n3",))
    sim.run_ticks(100)
    assert core_of(sim, "n3").term > core_of(sim, "n1").term + 2


def test_followers_in_contact_with_a_leader_ignore_vote_requests():
    sim = Sim(3, seed=3, pre_vote=False)
    leader = elect(sim, "n1")
    term = leader.term
    core_of(sim, "n3").campaign()  # n3 times out early, at term+1
    sim.flush()
    assert leader.role is Role.LEADER and core_of(sim, "n2").term == term


def test_leader_transfer_hands_over_without_an_election_timeout():
    sim = Sim(3, seed=4)
    leader = elect(sim, "n1")
    leader.propose(b"a")
    sim.flush()
    leader.transfer_leadership("n2")
    with pytest.raises(NotLeader):
        leader.propose(b"refused during transfer")
    sim.flush()
    assert core_of(sim, "n2").role is Role.LEADER and leader.role is Role.FOLLOWER


# -- replication -----------------------------------------------------------------


def test_a_proposal_is_applied_on_every_node_in_order():
    sim = Sim(3, seed=5)
    leader = elect(sim)
    leader.propose(b"a")
    leader.propose_batch([b"b", b"c"])
    sim.flush()
    for i in sim.ids:
        assert data_applied(sim, i) == [b"a", b"b", b"c"]


def test_a_new_leader_commits_a_noop_of_its_own_term():
    sim = Sim(3, seed=5)
    leader = elect(sim)
    first = leader.log.entry(leader.log.last_index())
    assert first.kind is EntryKind.NOOP and first.term == leader.term
    sim.flush()
    assert all(n.applied_index == first.index for n in sim.live())


def test_proposing_on_a_follower_names_the_leader():
    sim = Sim(3, seed=5)
    elect(sim, "n2")
    with pytest.raises(NotLeader) as err:
        core_of(sim, "n1").propose(b"x")
    assert err.value.leader == "n2"


def test_proposals_between_readies_are_batched_into_one_append():
    sim = Sim(3, seed=6)
    leader = elect(sim)
    for k in range(4):  # the sim's max_entries_per_message is 4
        leader.propose(b"%d" % k)
    appends = [m for m in leader.ready().messages if m.type is MT.APPEND and m.dst == "n2"]
    assert len(appends) == 1 and len(appends[0].entries) == 4


def test_an_append_message_respects_the_byte_limit():
    cfg = RaftConfig("n1", ("n1", "n2", "n3"), pre_vote=False, max_bytes_per_message=250)
    leader = RaftNode(cfg, random.Random(1))
    leader.campaign()
    leader.step(Message(MT.VOTE_RESP, "n2", "n1", leader.term))
    leader.advance(leader.ready())
    leader.step(Message(MT.APPEND_RESP, "n2", "n1", leader.term, index=1))  # n2 is caught up
    leader.propose_batch([bytes(100)] * 5)
    sizes = [len(m.entries) for m in leader.ready().messages if m.dst == "n2"]
    assert sizes and max(sizes) == 2 and sum(sizes) <= 5


def test_appends_are_pipelined_up_to_the_inflight_limit():
    sim = Sim(3, seed=6)
    leader = elect(sim)
    leader.propose_batch([b"%d" % k for k in range(40)])
    sim.handle_ready("n1")
    to_n2 = [m for m in sim.in_flight if m.type is MT.APPEND and m.dst == "n2"]
    # Replicating: three messages (max_inflight) of four entries go out before any ack.
    assert [len(m.entries) for m in to_n2] == [4, 4, 4]
    sim.flush()
    assert all(n.applied_index == leader.log.last_index() for n in sim.live())


def test_a_follower_with_a_divergent_log_is_repaired():
    sim = Sim(3, seed=8, pre_vote=False, check_quorum=False)
    leader = elect(sim, "n1")
    sim.split(("n1",))
    leader.propose_batch([b"lost1", b"lost2", b"lost3"])  # never reaches a majority
    sim.flush()
    sim.heal()
    elect(sim, "n2")
    core_of(sim, "n2").propose(b"kept")
    sim.flush()
    sim.run_ticks(5)
    for i in sim.ids:
        assert data_applied(sim, i) == [b"kept"]
    sim.check_logs()


def test_entries_of_an_earlier_term_are_not_committed_by_counting():
    """Figure 8 of the Raft paper, driven step by step on five nodes."""
    sim = Sim(5, seed=9, pre_vote=False, check_quorum=False, max_entries_per_message=1)

    def campaign_until_leader(i: str, deliver) -> RaftNode:
        core = core_of(sim, i)
        for _ in range(3):  # a first try may lose against votes already cast in its term
            core.campaign()
            for _ in range(8):
                for j in sim.ids:
                    sim.handle_ready(j)
                sim.deliver(deliver)
                sim.drop()
            if core.role is Role.LEADER:
                return core
        raise AssertionError(f"{i} did not win: {core.status()}")

    s1 = elect(sim, "n1")
    s1.propose(b"a")  # index 2, term 1: reaches n1 and n2 only
    sim.handle_ready("n1")
    sim.deliver(lambda m: m.dst == "n2")
    sim.drop()
    sim.crash("n1")
    # n5 wins term 2 with n3 and n4 and writes its noop at index 2; nobody else gets it.
    s5 = campaign_until_leader("n5", lambda m: m.type in (MT.VOTE, MT.VOTE_RESP))
    assert s5.log.term(2) == s5.term
    sim.drop()
    sim.crash("n5")
    sim.restart("n1")

    # n1 wins term 3; (2, term 1) reaches n3, n1's own noop (3, term 3) reaches n2 only.
    def n1_term3(m: Message) -> bool:
        if m.dst == "n4":
            return m.type is MT.VOTE
        n3_would_take = m.index <= core_of(sim, "n3").log.last_index()
        return not (
            m.dst == "n3"
            and m.type is MT.APPEND
            and n3_would_take
            and any(e.index >= 3 for e in m.entries)
        )

    s1 = campaign_until_leader("n1", n1_term3)
    for _ in range(6):
        s1.tick()  # heartbeats un-pause the probes that were dropped
        for j in sim.ids:
            sim.handle_ready(j)
        sim.deliver(n1_term3)
        sim.drop()
    holders = [i for i in ("n1", "n2", "n3") if core_of(sim, i).log.term(2) == 1]
    assert holders == ["n1", "n2", "n3"]  # a majority holds (2, term 1)...
    assert core_of(sim, "n3").log.last_index() == 2
    assert s1.log.committed == 1  # ...but it is from an earlier term: not committed
    sim.crash("n1")
    sim.restart("n5")
    # n5 can still win (n3, n4 vote for it) and overwrite index 2: had n1 committed
    # (2, term 1), the sim would now see two different entries applied at index 2.
    campaign_until_leader("n5", lambda m: True)
    sim.settle()
    assert sim.committed[2][:2] == (2, b"")


def test_a_restarted_node_recovers_its_log_and_reapplies():
    sim = Sim(3, seed=10)
    leader = elect(sim)
    leader.propose_batch([b"a", b"b"])
    sim.flush()
    sim.crash("n2")
    sim.restart("n2")
    n2 = core_of(sim, "n2")
    assert n2.term == leader.term and n2.log.last_index() == leader.log.last_index()
    # A commit-only hard state is not synced, so the crash may have lost the commit
    # index: the leader's next heartbeat brings it back, and the entries are applied again.
    sim.run_ticks(3)
    assert data_applied(sim, "n2") == [b"a", b"b"]


def test_the_ready_contract_is_enforced():
    cfg = RaftConfig("n1", ("n1",))
    core = RaftNode(cfg, random.Random(1))
    core.campaign()
    rd = core.ready()
    assert rd.must_sync and rd.hard_state is not None and rd.entries
    with pytest.raises(RuntimeError):
        core.ready()
    core.advance(rd)
    assert not core.has_ready()


def test_stray_messages_change_nothing():
    cfg = RaftConfig("n1", ("n1", "n2", "n3"))
    core = RaftNode(cfg, random.Random(1))
    core.step(Message(MT.APPEND, "n9", "n1", 50))  # a stranger
    core.step(Message(MT.APPEND, "n2", "n7", 50))  # not for us
    core.step(Message(MT.APPEND, "n1", "n1", 50))  # from ourselves
    assert core.term == 0 and not core.has_ready()


# -- snapshots -------------------------------------------------------------------


def test_a_lagging_follower_is_sent_the_snapshot():
    sim = Sim(3, seed=11)
    leader = elect(sim)
    sim.crash("n3")
    leader.propose_batch([b"a", b"b", b"c", b"d"])
    sim.flush()
    sim.compact("n1")
    assert leader.log.first_index() > 2
    sim.restart("n3")
    sim.run_ticks(5)
    assert data_applied(sim, "n3") == [b"a", b"b", b"c", b"d"]
    assert core_of(sim, "n3").log.snapshot.index == leader.log.snapshot.index
    sim.crash("n3")  # and it restarts from the installed snapshot
    sim.restart("n3")
    assert data_applied(sim, "n3") == [b"a", b"b", b"c", b"d"]


def test_compacting_beyond_applied_is_refused():
    sim = Sim(1, seed=1)
    core = elect(sim)
    with pytest.raises(ValueError, match="beyond applied"):
        core.compact(core.log.last_index() + 5, b"")


# -- quorum, check-quorum, split-brain ---------------------------------------------


def test_quorum_is_true_on_the_majority_side_and_false_on_the_minority():
    sim = Sim(5, seed=12)
    old = elect(sim, "n1")
    sim.split(("n1", "n2"), ("n3", "n4", "n5"))
    sim.run_ticks(2 * 20)  # two election timeouts at most
    assert old.role is not Role.LEADER  # check-quorum: stepped down
    assert not old.status().quorum and not core_of(sim, "n2").status().quorum
    majority = [core_of(sim, i).status() for i in ("n3", "n4", "n5")]
    assert sum(st.role is Role.LEADER for st in majority) == 1
    assert all(st.quorum for st in majority)
    sim.heal()
    sim.run_ticks(20)
    assert all(n.core.status().quorum for n in sim.live())


def test_a_cut_off_follower_loses_quorum_after_one_election_timeout():
    sim = Sim(3, seed=12)
    elect(sim, "n1")
    sim.run_ticks(3)
    n3 = core_of(sim, "n3")
    sim.split(("n3",))
    seen = []
    for t in range(1, 40):
        n3.tick()
        seen.append((t, n3.status().quorum))
    # Still in contact right after the cut; never after an election timeout (10 ticks).
    assert seen[0][1] and not any(q for t, q in seen if t > 10)


def test_split_brain_bug_keeps_a_lone_leader_that_claims_quorum():
    sim = Sim(3, seed=12, split_brain=True)
    old = elect(sim, "n1")
    sim.split(("n1",))
    sim.run_ticks(40)
    assert old.role is Role.LEADER and old.status().quorum  # the bug: no step-down


def test_split_brain_bug_wins_an_election_without_a_majority():
    cfg = RaftConfig("n1", ("n1", "n2", "n3"), split_brain=True, pre_vote=False)
    core = RaftNode(cfg, random.Random(1))
    core.campaign()
    assert core.role is Role.LEADER  # its own vote was "enough"


# -- ReadIndex -------------------------------------------------------------------


def test_read_index_waits_for_a_quorum_heartbeat_round():
    sim = Sim(3, seed=13)
    leader = elect(sim)
    leader.propose(b"a")
    sim.flush()
    leader.read_index(b"r1")
    rd = leader.ready()
    assert not rd.read_states  # not yet confirmed
    assert {m.type for m in rd.messages} == {MT.HEARTBEAT}
    sim._persist(sim.nodes["n1"].disk, rd)
    sim.in_flight.extend(rd.messages)
    leader.advance(rd)
    sim.deliver()
    sim.handle_ready("n2")
    sim.deliver(lambda m: m.src == "n2")  # one ack + the leader = a majority
    rd = leader.ready()
    assert [(r.index, r.ctx) for r in rd.read_states] == [(leader.log.committed, b"r1")]
    leader.advance(rd)


def test_a_cut_off_leader_never_confirms_a_read_and_drops_it_on_step_down():
    sim = Sim(3, seed=14)
    leader = elect(sim)
    sim.split(("n1",))
    leader.read_index(b"r1")
    served, dropped = [], []
    for _ in range(40):
        leader.tick()
        rd = leader.ready()
        served += rd.read_states
        dropped += rd.dropped_reads
        leader.advance(rd)
    assert not served and dropped == [b"r1"] and leader.role is not Role.LEADER


def test_read_index_waits_for_the_first_commit_of_the_term():
    sim = Sim(3, seed=15)
    n1 = core_of(sim, "n1")
    n1.campaign()
    for _ in range(4):  # votes only: the noop is not yet acknowledged
        for i in sim.ids:
            sim.handle_ready(i)
        sim.deliver(lambda m: m.type is not MT.APPEND_RESP)
    assert n1.role is Role.LEADER and n1.log.committed < n1.log.last_index()
    n1.read_index(b"r")
    assert not n1.ready().read_states


# -- hostile input ---------------------------------------------------------------

small = st.integers(-1, 6)
entries = st.lists(
    st.builds(Entry, term=small, index=small, data=st.binary(max_size=3)), max_size=4
).map(tuple)
messages = st.builds(
    Message,
    type=st.sampled_from(list(MT)),
    src=st.sampled_from(["n1", "n2", "n3", "zz"]),
    dst=st.sampled_from(["n1", "n3"]),
    term=small,
    log_term=small,
    index=small,
    entries=entries,
    commit=small,
    reject=st.booleans(),
    reject_hint=small,
    snapshot=st.none() | st.builds(Snapshot, index=small, term=small),
    read_seq=small,
    transfer=st.booleans(),
)


@settings(max_examples=120, deadline=None, derandomize=True, database=None)
@given(st.lists(messages, max_size=20), st.booleans())
def test_arbitrary_messages_never_break_the_core(msgs, leading):
    cfg = RaftConfig("n1", ("n1", "n2", "n3"), pre_vote=False)
    log = [Entry(1, 1), Entry(1, 2), Entry(2, 3)]
    core = RaftNode(cfg, random.Random(1), hard_state=HardState(2, None, 2), entries=log)
    if leading:
        core.campaign()
        core.step(Message(MT.VOTE_RESP, "n2", "n1", core.term))
    for m in msgs:
        core.step(m)
        core.tick()
        rd = core.ready()
        core.advance(rd)
        lg = core.log
        assert [e.index for e in lg.entries] == list(range(lg.first_index(), lg.last_index() + 1))
        assert lg.snapshot.index <= lg.applied <= lg.committed <= lg.last_index()
        assert lg.committed >= 2  # a committed entry is never lost
        assert lg.entry(2) == Entry(1, 2) if lg.first_index() <= 2 else True
