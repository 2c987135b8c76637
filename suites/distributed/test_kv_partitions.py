"""The reference KV cluster under network partitions (through distlab's fault proxies)."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.distributed


def no_quorum(kv, node):
    status = kv.status(node)
    return status is not None and not status["quorum"] and not status["operational"]


@pytest.mark.parametrize(
    "size",
    [
        pytest.param(3, id="3-nodes"),
        pytest.param(5, id="5-nodes", marks=pytest.mark.cluster(nodes=5)),
    ],
)
def test_the_majority_side_stays_operational_and_the_minority_says_quorum_false(cluster, kv, size):
    old = kv.leader()
    # The old leader goes to the minority side: the case where someone must step down.
    others = [n for n in cluster.ids if n != old]
    minority = [old, *others[: (size - 1) // 2 - 1]] if size > 3 else [old]
    majority = [n for n in cluster.ids if n not in minority]
    cluster.net.partition([minority, majority])
    new = kv.leader(majority)
    assert new in majority
    for node in minority:
        kv.wait(
            f"{node} on the minority side to say quorum: false", lambda n=node: no_quorum(kv, n)
        )
    client = kv.client(timeout=5.0)
    assert kv.run(client.put("during", 1, node=majority[0])).ok
    cluster.net.heal()
    kv.leader()
    for node in cluster.ids:
        kv.wait(
            f"{node} to apply the write made during the partition",
            lambda n=node: kv.local_value(n, "during") == 1,
        )


def test_after_heal_every_node_is_operational_and_the_registry_has_converged(cluster, kv):
    leader = kv.leader()
    isolated = next(n for n in cluster.ids if n != leader)
    majority = [n for n in cluster.ids if n != isolated]
    client = kv.client(timeout=5.0)
    assert kv.run(client.register("before", "alice")).ok
    cluster.net.partition([[isolated], majority])
    kv.wait(f"{isolated} to lose quorum", lambda: no_quorum(kv, isolated))
    made = kv.run(client.register("during", "bob", node=majority[0]))
    assert made.ok and made.reply["registered"]
    refused = kv.run(client.register("cut-off", "carol", node=isolated, timeout=1.0))
    assert refused.outcome != "ok", "a node without quorum accepted a registration"
    cluster.net.heal()
    kv.leader()

    def converged():
        views = {n: kv.run(client.registry(n))["registry"] for n in cluster.ids}
        same = all(v == views[majority[0]] for v in views.values())
        return views if same and {"before", "during"} <= set(views[isolated]) else None

    views = kv.wait("every node to hold the same registry", converged)
    assert views[isolated]["during"] == "bob"
    for node in cluster.ids:
        assert kv.run(client.lookup("during", node=node)).reply["owner"] == "bob"


def test_a_node_cut_off_from_the_leader_never_serves_a_stale_read(cluster, kv):
    leader = kv.leader()
    isolated = next(n for n in cluster.ids if n != leader)
    majority = [n for n in cluster.ids if n != isolated]
    client = kv.client(timeout=5.0)
    assert kv.run(client.put("x", "old")).ok
    kv.wait(f"{isolated} to apply x=old", lambda: kv.local_value(isolated, "x") == "old")
    cluster.net.partition([[isolated], majority])
    assert kv.run(client.put("x", "new", node=majority[0])).ok
    read = kv.run(client.get("x", node=isolated, timeout=1.5))
    assert not (read.ok and read.value == "old"), f"{isolated} answered a stale read: {read.reply}"
    cluster.net.heal()


def test_a_leader_cut_off_from_its_followers_acknowledges_no_write(cluster, kv):
    leader = kv.leader()
    followers = [n for n in cluster.ids if n != leader]
    cluster.net.partition([[leader], followers])
    client = kv.client(timeout=1.0, follow_leader=False)

    async def writes():
        ops = [client.put(f"w{i}", i, node=leader) for i in range(5)]
        return await asyncio.gather(*ops)

    results = kv.run(writes())
    acked = [i for i, r in enumerate(results) if r.ok]
    assert all(r.outcome in ("ok", "info", "fail") for r in results)
    cluster.net.heal()
    kv.leader()
    reader = kv.client(timeout=5.0)
    lost = [i for i in acked if kv.run(reader.get(f"w{i}")).value != i]
    assert not lost, f"acknowledged writes {lost} were lost after the heal"
    assert not acked, (
        f"writes {acked} were acknowledged by a leader that could not reach a majority"
    )


@pytest.mark.cluster(wiring="ingress", ingress_identify='"from":"([^"]+)"')
def test_ingress_wiring_partitions_the_same_way(cluster, kv):
    # One proxy per node, told who dials by the hello frame each peer link starts with.
    old = kv.leader()
    others = [n for n in cluster.ids if n != old]
    cluster.net.partition([[old], others])
    assert kv.leader(others) != old
    kv.wait(f"{old} to say quorum: false", lambda: no_quorum(kv, old))
    cluster.net.heal()
    kv.leader()
    assert kv.run(kv.client(timeout=5.0).put("after-heal", 1)).ok
