"""Raft's consensus and durability rules, checked from outside: real nodes, real
faults, and only what clients and a node's status can see.

Each test plays one short fault sequence that puts a rule of the Raft paper
under strain -- the commit rule (section 5.4.2), the vote rule (5.4.1),
ReadIndex's quorum round, log repair (5.3), persisting a vote before it is
sent, and unknown outcomes of forwarded writes -- and asserts what a client is
promised. None of them looks inside a node: a user's own system can be tested
the same way. docs/planted-bugs.md names the planted bug each one catches.
``distlab --long`` repeats the rounds that are timing-dependent.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from distlab.nemesis import long_run

pytestmark = pytest.mark.distributed

#: how often the commit-rule test repeats its write-then-depose round (``--long``: 30)
COMMIT_ROUNDS = 30 if long_run() else 3
#: one-way delay on the old leader's outgoing links: long enough that its commit
#: broadcast is still in flight when it is cut off, and short enough that the
#: leader keeps hearing from a quorum within its check-quorum window (150 ms)
COMMIT_DELAY_MS = 100
#: one-way delay between the survivors while they elect a new leader (a round
#: trip stays under the election timeout of 150-300 ms)
SETTLE_DELAY_MS = 60
#: the node's own bound on a forwarded request (its --request-timeout), and the
#: one-way delay that makes every forward from one follower outlast it
FORWARD_TIMEOUT_S = 0.5
FORWARD_DELAY_MS = 900
#: the configured node command, with a short forward bound for that one test
SHORT_FORWARD = (
    "{python} -m reference_system.node --id {id} --host {host} --port {port}"
    " --peer-port {peer_port} --peers {peers} --data-dir {data_dir} --request-timeout "
    + str(FORWARD_TIMEOUT_S)
)


def others(cluster, *nodes):
    return [n for n in cluster.ids if n not in nodes]


async def first_ok_reads(client, key, nodes, per_node=4, within_s=5.0):
    """Read ``key`` through each of ``nodes``, ``per_node`` readers each, every reader
    retrying until it gets an answer: so that some read reaches a new leader in its
    first moments. Every ok value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s

    async def through(node):
        while loop.time() < deadline:
            r = await client.get(key, node=node, timeout=1.0)
            if r.ok:
                return r.value
        return None

    readers = [through(n) for n in nodes for _ in range(per_node)]
    return [v for v in await asyncio.gather(*readers) if v is not None]


def test_the_next_leader_reads_every_write_the_deposed_one_acknowledged(cluster, kv):
    # A write is acknowledged once committed; the followers learn that it is
    # committed only from the leader's next message. Delay that message and cut
    # the leader off: the next leader holds the entry but not its commit, and
    # must find out (by committing an entry of its own term) before it serves a read.
    client = kv.client(timeout=5.0)
    reader = kv.client(timeout=5.0, attempt_timeout=0.5, follow_leader=False)
    for i in range(COMMIT_ROUNDS):
        leader = kv.leader()
        rest = others(cluster, leader)
        cluster.net.latency([(leader, n) for n in rest], COMMIT_DELAY_MS)
        wrote = kv.run(client.put("committed", i, node=leader))
        cluster.net.partition([[leader], rest])
        # Slow links between the rest, so that a new leader takes a while to learn
        # more than it knew when elected; a read must not be served from that.
        cluster.net.latency([(a, b) for a in rest for b in rest if a != b], SETTLE_DELAY_MS)
        assert wrote.ok, f"round {i}: the write was not acknowledged: {wrote}"
        seen = kv.run(first_ok_reads(reader, "committed", rest))
        cluster.net.heal()
        assert seen, f"round {i}: no read was answered by {rest}"
        assert all(v == i for v in seen), (
            f"round {i}: write committed={i} was acknowledged, then reads after the "
            f"leader {leader} was cut off returned {seen}"
        )


def test_a_stale_log_never_wins_an_election_even_when_it_is_longer(cluster, kv):
    # The old leader takes writes it cannot commit (a longer log, older terms); the
    # majority commits fewer, newer ones. Then the old leader can reach only one
    # voter while the new leader dies: that voter must refuse it.
    old = kv.leader()
    rest = others(cluster, old)
    cluster.net.partition([[old], rest])
    lone = kv.client(timeout=0.5, follow_leader=False)

    async def stale_writes():
        return await asyncio.gather(*(lone.put(f"stale{i}", i, node=old) for i in range(6)))

    kv.run(stale_writes())
    new = kv.leader(rest)
    voter = next(n for n in rest if n != new)
    client = kv.client(timeout=5.0)
    acked = {}
    for i in range(2):
        r = kv.run(client.put(f"acked{i}", i))
        assert r.ok, r
        acked[f"acked{i}"] = i
    # Bridge: old <-> voter <-> new; old and new cannot talk.
    cluster.net.partition_shape("bridge", [old, voter, new])
    cluster[new].kill()
    kv.leader([old, voter], timeout=20.0)
    cluster.net.heal()
    cluster[new].restart()
    kv.leader()
    got = {k: kv.run(client.get(k)).value for k in acked}
    assert got == acked, f"acknowledged writes changed after the election: {got} != {acked}"


def test_a_paused_leader_cut_off_answers_no_read_it_queued_with_old_data(cluster, kv):
    # SIGSTOP freezes the old leader's clock too: resumed, it still believes it
    # leads, and a read queued while it slept is the first thing it sees. Only a
    # quorum round can tell it that someone else leads now.
    old = kv.leader()
    rest = others(cluster, old)
    client = kv.client(timeout=5.0)
    assert kv.run(client.put("x", "old")).ok
    cluster.net.partition([[old], rest])
    cluster[old].pause()
    try:
        kv.leader(rest)
        assert kv.run(client.put("x", "new", node=rest[0])).ok
        reader = kv.client(timeout=2.0, attempt_timeout=2.0, follow_leader=False)

        async def read_queued_while_paused():
            pending = asyncio.ensure_future(reader.get("x", node=old))
            await asyncio.sleep(0.5)  # the request waits in the paused node's socket
            cluster[old].resume()
            return await pending

        read = kv.run(read_queued_while_paused())
    finally:
        if str(cluster[old].state) == "paused":
            cluster[old].resume()
    cluster.net.heal()
    assert not (read.ok and read.value == "old"), f"{old} answered a stale read: {read.reply}"


def test_a_deposed_leaders_unacknowledged_writes_are_replaced_on_every_node(cluster, kv):
    # The old leader appends writes it can never commit; the new leader commits
    # others at the same indexes. After the heal every node must hold the same
    # state: the old leader's conflicting suffix replaced, not kept.
    old = kv.leader()
    rest = others(cluster, old)
    keys = [f"k{i}" for i in range(5)]
    cluster.net.partition([[old], rest])
    lone = kv.client(timeout=0.5, follow_leader=False)

    async def doomed_writes():
        return await asyncio.gather(*(lone.put(k, "doomed", node=old) for k in keys))

    kv.run(doomed_writes())
    kv.leader(rest)
    client = kv.client(timeout=5.0)
    for k in keys:
        assert kv.run(client.put(k, "kept", node=rest[0])).ok
    cluster.net.heal()
    kv.leader()
    assert kv.run(client.put("barrier", 1)).ok
    for n in cluster.ids:
        kv.wait(f"{n} to apply the barrier write", lambda n=n: kv.local_value(n, "barrier") == 1)
    states = {n: {k: kv.local_value(n, k) for k in keys} for n in cluster.ids}
    assert all(s == {k: "kept" for k in keys} for s in states.values()), (
        f"nodes disagree after the heal: {states}"
    )


def test_a_node_killed_right_after_it_voted_remembers_the_term(cluster, kv):
    # A vote is a promise: once sent it must survive a crash, or the node can vote
    # twice in one term. Every message *to* the voter is delayed, so after it votes
    # nothing else reaches it for a while; it is killed in that gap and its term
    # is read back (its public status) before any peer can remind it.
    leader = kv.leader()
    voter, other = others(cluster, leader)
    before = kv.status(voter)["term"]
    cluster.net.latency([(leader, voter), (other, voter)], 1500)
    cluster[leader].kill()
    seen = kv.wait(
        f"{voter} to move to a later term",
        lambda: (st := kv.status(voter)) and st["term"] > before and st["term"],
        timeout=15.0,
    )
    time.sleep(0.1)  # a correct node has long synced; nothing from its peers has arrived
    cluster[voter].kill()
    cluster[voter].restart()
    after = kv.wait(f"{voter} to answer its status", lambda: kv.status(voter))
    cluster.net.heal()
    cluster[leader].restart()
    assert after["term"] >= seen, (
        f"{voter} was in term {seen} before it crashed and in term {after['term']} after"
    )


@pytest.mark.cluster(command=SHORT_FORWARD)
def test_a_forwarded_write_without_an_answer_is_never_reported_failed(cluster, kv):
    # One follower's forwards reach the leader only after the follower stopped
    # waiting for them. The leader commits them all the same, so the follower
    # must answer "unknown", and a client must never hear "failed".
    leader = kv.leader()
    slow = others(cluster, leader)[0]
    cluster.net.latency([(slow, leader)], FORWARD_DELAY_MS)
    client = kv.client(timeout=3.0, attempt_timeout=2.0, follow_leader=False)

    async def writes():
        return await asyncio.gather(*(client.put(f"f{i}", i, node=slow) for i in range(12)))

    results = kv.run(writes())
    cluster.net.heal()
    failed = [i for i, r in enumerate(results) if r.outcome == "fail"]
    reader = kv.client(timeout=5.0)
    time.sleep(FORWARD_DELAY_MS / 1000)  # the last forwards land
    applied = [i for i in failed if kv.run(reader.get(f"f{i}")).value == i]
    assert not applied, (
        f"writes {applied} were reported failed and took effect; errors: "
        f"{[results[i].error for i in applied]}"
    )
