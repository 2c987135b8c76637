"""What the reference KV cluster acknowledged survives every node being killed at once."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.distributed


def test_a_cluster_killed_and_restarted_keeps_every_acknowledged_write(cluster, kv):
    kv.leader()
    client = kv.client(timeout=5.0)

    async def writes():
        return await asyncio.gather(*(client.put(f"d{i}", i) for i in range(20)))

    acked = [i for i, r in enumerate(kv.run(writes())) if r.ok]
    assert acked, "no write was acknowledged"
    for node in cluster.nodes:
        node.kill()  # SIGKILL: no chance to flush anything
    for node in cluster.nodes:
        node.restart()
    kv.leader()
    reader = kv.client(timeout=5.0)
    lost = [i for i in acked if kv.run(reader.get(f"d{i}")).value != i]
    assert not lost, f"acknowledged writes {lost} were lost across the restart"


def test_sigterm_stops_every_node_cleanly_and_nothing_is_lost(cluster, kv):
    kv.leader()
    client = kv.client(timeout=5.0)
    assert kv.run(client.put("kept", "yes")).ok
    for node in cluster.nodes:
        node.stop(grace_s=5.0)
        assert (node.exit_code, node.signal) == (0, None), f"{node.id}: {node.log_tail()}"
    for node in cluster.nodes:
        node.restart()
    kv.leader()
    assert kv.run(kv.client(timeout=5.0).get("kept")).value == "yes"
