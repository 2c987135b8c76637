"""The planted Raft-core bugs, each caught by one directed schedule of the simulation.

Every test runs with and without its bug: with it, the simulation's invariant
checks must raise the named ``SafetyViolation``; without it, the same schedule
is safe. (The black-box tests that catch the same bugs from outside are in
suites/distributed/test_kv_consensus.py; docs/planted-bugs.md has the table.)
"""

from __future__ import annotations

import contextlib

import pytest
from raft_sim import SafetyViolation, Sim

from reference_system.raft import MessageType, RaftNode, Role

pytestmark = pytest.mark.unit

MT = MessageType


def sim_with(bug: str | None) -> Sim:
    # No pre-vote and no check-quorum: elections happen exactly when a test asks.
    planted = frozenset({bug}) if bug else frozenset()
    return Sim(3, seed=5, planted=planted, pre_vote=False, check_quorum=False)


def core(sim: Sim, i: str) -> RaftNode:
    c = sim.nodes[i].core
    assert c is not None
    return c


def elect(sim: Sim, who: str) -> RaftNode:
    c = core(sim, who)
    c.campaign()
    sim.flush()
    assert c.role is Role.LEADER, c.status()
    return c


def caught_if(bug: str | None, prop: str) -> contextlib.AbstractContextManager[object]:
    """With the bug: expect the violation of ``prop``; without: expect nothing."""
    return pytest.raises(SafetyViolation, match=prop) if bug else contextlib.nullcontext()


@pytest.mark.parametrize("bug", [None, "old-term-commit"])
def test_a_new_leader_reads_from_an_entry_of_its_own_term(bug):
    sim = sim_with(bug)
    n1 = elect(sim, "n1")
    n1.propose(b"x")
    sim.handle_ready("n1")
    sim.deliver(lambda m: m.dst == "n2")
    sim.handle_ready("n2")
    sim.deliver(lambda m: m.dst == "n1")
    sim.handle_ready("n1")  # committed and applied on n1: a client was told
    sim.drop()  # the commit index never reaches n2 or n3
    sim.crash("n1")
    n2 = elect(sim, "n2")
    with caught_if(bug, "linearizable read"):
        sim.reads[b"r"] = max(sim.committed)
        n2.read_index(b"r")
        sim.flush()


@pytest.mark.parametrize("bug", [None, "vote-longer-log"])
def test_a_longer_log_of_an_older_term_gets_no_vote(bug):
    sim = sim_with(bug)
    n1 = elect(sim, "n1")
    sim.split(("n1",))
    n1.propose_batch([b"a", b"b", b"c"])  # longer, and never committed
    sim.flush()
    n2 = elect(sim, "n2")
    n2.propose(b"x")  # committed by n2 and n3, in a newer term
    sim.flush()
    sim.crash("n2")
    sim.heal()
    sim.crash("n1")  # n1 reboots as a follower, its longer log on disk
    sim.restart("n1")
    n1 = core(sim, "n1")
    with caught_if(bug, "leader completeness|state-machine safety"):
        for _ in range(2):  # the first try is in n2's term, where n3 has voted already
            n1.campaign()
            sim.flush()
            sim.check()


@pytest.mark.parametrize("bug", [None, "read-no-quorum"])
def test_a_deposed_leader_confirms_no_read(bug):
    sim = sim_with(bug)
    n1 = elect(sim, "n1")
    sim.split(("n1",))
    n2 = elect(sim, "n2")
    n2.propose(b"x")
    sim.flush()
    assert n1.role is Role.LEADER  # cut off, it still believes it leads
    with caught_if(bug, "linearizable read"):
        sim.reads[b"r"] = max(sim.committed)
        n1.read_index(b"r")
        sim.flush()


@pytest.mark.parametrize("bug", [None, "keep-conflicting-suffix"])
def test_a_deposed_leaders_suffix_is_replaced(bug):
    sim = sim_with(bug)
    n1 = elect(sim, "n1")
    sim.split(("n1",))
    n1.propose_batch([b"a", b"b"])
    sim.flush()
    n2 = elect(sim, "n2")
    n2.propose_batch([b"x", b"y"])
    sim.flush()
    sim.heal()
    with caught_if(bug, "log matching|state-machine safety"):
        sim.run_ticks(5)
        sim.check_logs()


@pytest.mark.parametrize("bug", [None, "unsynced-vote"])
def test_a_vote_survives_a_crash_right_after_it_was_sent(bug):
    sim = sim_with(bug)
    elect(sim, "n1")
    n2 = core(sim, "n2")
    n2.campaign()
    sim.handle_ready("n2")
    sim.deliver(lambda m: m.dst == "n3" and m.type is MT.VOTE)
    sim.handle_ready("n3")  # n3 votes for n2 in term 2 ...
    sim.deliver(lambda m: m.dst == "n2" and m.type is MT.VOTE_RESP)
    assert n2.role is Role.LEADER
    sim.drop()
    sim.crash("n3")  # ... and crashes before anything else
    sim.restart("n3")
    sim.crash("n1")  # n1 (leader of term 1, deaf to term 2) reboots as a follower of term 1
    sim.restart("n1")
    n1 = core(sim, "n1")
    with caught_if(bug, "election safety"):
        n1.campaign()  # term 2 as well: n3 must remember it voted in it
        for _ in range(3):
            sim.handle_ready("n1")
            sim.deliver(lambda m: "n2" not in (m.src, m.dst))
            sim.handle_ready("n3")
            sim.deliver(lambda m: "n2" not in (m.src, m.dst))
            sim.check()
