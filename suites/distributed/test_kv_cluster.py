"""The reference KV cluster on 3 and 5 real node processes: election, replication, crashes."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.distributed

three_and_five = pytest.mark.parametrize(
    "size",
    [
        pytest.param(3, id="3-nodes"),
        pytest.param(5, id="5-nodes", marks=pytest.mark.cluster(nodes=5)),
    ],
)


@three_and_five
def test_a_leader_is_elected_and_every_node_agrees_on_it(cluster, kv, size):
    assert len(cluster.ids) == size

    def one_agreed_leader():
        # One consistent snapshot: a busy machine can cause a re-election between two polls.
        statuses = kv.statuses()
        if any(s is None for s in statuses.values()):
            return None
        roles = [s["role"] for s in statuses.values()]
        leaders = {s["leader"] for s in statuses.values()}
        terms = {s["term"] for s in statuses.values()}
        agreed = roles.count("leader") == 1 and len(leaders) == 1 and len(terms) == 1
        return statuses if agreed and None not in leaders else None

    statuses = kv.wait(
        "exactly one leader that every node names, all in one term", one_agreed_leader
    )
    leader = statuses["n1"]["leader"]
    assert statuses[leader]["role"] == "leader"
    assert all(s["quorum"] and s["operational"] for s in statuses.values())


@three_and_five
def test_a_committed_write_is_visible_on_every_node(cluster, kv, size):
    kv.leader()
    client = kv.client()
    # Written through a follower, so the forwarding path is part of it.
    follower = next(n for n, s in kv.statuses().items() if s["role"] == "follower")
    assert kv.run(client.put("greeting", "hello", node=follower)).ok
    for node in cluster.ids:
        kv.wait(
            f"{node} to apply the write", lambda n=node: kv.local_value(n, "greeting") == "hello"
        )
        assert kv.run(client.call({"op": "get", "key": "greeting"}, node=node)).value == "hello"


def test_consensus_survives_the_leaders_crash_and_the_node_catches_up(cluster, kv):
    old = kv.leader()
    client = kv.client(timeout=5.0)
    assert kv.run(client.put("before", 1)).ok
    cluster[old].kill()
    rest = [n for n in cluster.ids if n != old]
    new = kv.leader(rest)
    assert new != old
    assert kv.run(client.put("after", 2)).ok
    assert kv.run(client.get("before")).value == 1
    cluster[old].restart()
    kv.wait(f"{old} to catch up", lambda: kv.local_value(old, "after") == 2)
    assert kv.local_value(old, "before") == 1
    kv.leader()


def test_cas_and_delete_through_the_cluster(cluster, kv):
    kv.leader()
    client = kv.client()
    assert kv.run(client.cas("c", None, "a")).reply["swapped"] is True
    lost = kv.run(client.cas("c", None, "b"))
    assert lost.ok and lost.reply["swapped"] is False and lost.value == "a"
    assert kv.run(client.delete("c")).reply["existed"] is True
    assert kv.run(client.get("c")).value is None


def test_an_event_published_on_n1_reaches_a_subscriber_on_n2(cluster, kv):
    kv.leader()
    client = kv.client()

    async def scenario():
        sub = await client.subscribe("n2", "orders.*")
        other = await client.subscribe("n3", "users.*")
        try:
            published = await client.publish("orders.created", {"id": 7}, node="n1")
            assert published.ok
            event = await sub.next(timeout=5.0)
            assert (event["topic"], event["message"], event["node"]) == (
                "orders.created",
                {"id": 7},
                "n2",
            )
            assert event["seq"] == published.reply["seq"]
            with pytest.raises(TimeoutError):
                await other.next(timeout=0.5)  # a pattern that does not match hears nothing
        finally:
            await sub.close()
            await other.close()

    kv.run(scenario())


def test_trace_context_survives_n1_to_n2_to_n3_with_hop_count_3(cluster, kv):
    kv.leader()
    client = kv.client(trace_id="trace-abc", baggage={"tenant": "blue"})
    reply = kv.run(client.trace("n1", ["n2", "n3"]))
    assert reply["ok"], reply
    assert reply["path"] == ["n1", "n2", "n3"]
    assert reply["trace_id"] == "trace-abc"
    assert reply["hops"] == 3
    assert reply["baggage"] == {"tenant": "blue"}


def test_a_request_forwarded_to_the_leader_keeps_its_trace(cluster, kv):
    leader = kv.leader()
    follower = next(n for n in cluster.ids if n != leader)
    client = kv.client(trace_id="fwd-1")
    result = kv.run(client.put("k", "v", node=follower))
    assert result.ok
    assert (result.reply["node"], result.reply["trace_id"], result.reply["hops"]) == (
        leader,
        "fwd-1",
        2,
    )


def test_a_paused_leader_is_replaced_and_rejoins_as_a_follower(cluster, kv):
    old = kv.leader()
    client = kv.client(timeout=5.0)
    cluster[old].pause()
    try:
        rest = [n for n in cluster.ids if n != old]
        new = kv.leader(rest)
        assert kv.run(client.put("while-paused", 1, node=new)).ok
    finally:
        cluster[old].resume()
    new_term = kv.status(new)["term"]
    agreed = kv.leader()  # every node agrees again (normally on `new`; a busy machine may re-elect)
    kv.wait(f"{old} to apply what it missed", lambda: kv.local_value(old, "while-paused") == 1)
    status = kv.status(old)
    assert status["term"] >= new_term
    assert status["role"] == ("leader" if agreed == old else "follower")
