"""Many clients racing on one reference node: every response reaches the request it answers."""

from __future__ import annotations

import asyncio

import pytest

from reference_system.client import Client

pytestmark = pytest.mark.concurrency

CLIENTS = 48
OPS = 15


async def one_client(addrs, node: str, n: int) -> list[str]:
    """Write then read back this client's own keys; return every mismatch seen."""
    problems = []
    async with Client(addrs, timeout=10.0, trace_id=f"client-{n}", follow_leader=False) as c:
        for i in range(OPS):
            key, value = f"c{n}-k{i}", f"c{n}-v{i}"
            put = await c.put(key, value, node=node)
            if not put.ok:
                problems.append(f"put {key}: {put.outcome} {put.error}")
                continue
            got = await c.get(key, node=node)
            if not got.ok or got.value != value:
                problems.append(f"get {key}: {got.outcome} {got.value!r}")
            for r in (put, got):
                if r.reply.get("trace_id") != f"client-{n}":
                    problems.append(f"client {n} got a reply traced {r.reply.get('trace_id')!r}")
    return problems


def run_clients(kv, node: str) -> list[str]:
    async def everyone():
        results = await asyncio.gather(
            *(one_client(kv.addresses(), node, n) for n in range(CLIENTS))
        )
        return [p for r in results for p in r]

    return kv.run(everyone())


@pytest.mark.cluster(nodes=1)
def test_many_connections_to_one_node_get_their_own_answers(cluster, kv):
    kv.leader()
    assert run_clients(kv, "n1") == []


def test_many_connections_through_a_forwarding_follower_get_their_own_answers(cluster, kv):
    leader = kv.leader()
    follower = next(n for n in cluster.ids if n != leader)
    assert run_clients(kv, follower) == []


@pytest.mark.cluster(nodes=1)
def test_hundreds_of_requests_pipelined_on_one_connection_are_matched(cluster, kv):
    kv.leader()
    client = kv.client(timeout=10.0)

    async def pipelined():
        puts = await asyncio.gather(*(client.put(f"p{i}", i) for i in range(300)))
        gets = await asyncio.gather(*(client.get(f"p{i}") for i in range(300)))
        return puts, gets

    puts, gets = kv.run(pipelined())
    assert all(p.ok for p in puts)
    assert [g.value for g in gets] == list(range(300))
    assert len(client._conns) == 1  # one connection carried all of it


@pytest.mark.cluster(nodes=1)
def test_concurrent_cas_increments_lose_no_update(cluster, kv):
    kv.leader()
    workers, rounds = 8, 10

    async def increment(n):
        async with Client(kv.addresses(), timeout=10.0) as c:
            done = 0
            while done < rounds:
                current = (await c.get("counter")).value
                r = await c.cas("counter", current, (current or 0) + 1)
                if r.ok and r.reply["swapped"]:
                    done += 1

    async def race():
        await asyncio.gather(*(increment(n) for n in range(workers)))
        async with Client(kv.addresses()) as c:
            return (await c.get("counter")).value

    assert kv.run(race()) == workers * rounds
