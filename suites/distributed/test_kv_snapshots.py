"""Log compaction: nodes snapshot their state, restart from it, and ship it to a node left behind."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.distributed

SMALL_SNAPSHOTS = (
    "{python} -m reference_system.node --id {id} --host {host} --port {port} "
    "--peer-port {peer_port} "
    "--peers {peers} --data-dir {data_dir} --snapshot-entries 40"
)


@pytest.mark.cluster(command=SMALL_SNAPSHOTS)
def test_a_node_far_behind_catches_up_from_a_snapshot_and_restarts_from_its_own(cluster, kv):
    leader = kv.leader()
    behind = next(n for n in cluster.ids if n != leader)
    client = kv.client(timeout=5.0)
    assert kv.run(client.register("svc", "owner-1")).ok
    cluster[behind].kill()

    async def writes():
        return await asyncio.gather(*(client.put(f"s{i}", i) for i in range(200)))

    assert all(r.ok for r in kv.run(writes()))
    data_dir = cluster[leader].data_dir
    kv.wait("the leader to write a snapshot", lambda: (data_dir / "snapshot.bin").exists())
    cluster[behind].restart()
    kv.wait(f"{behind} to catch up", lambda: kv.local_value(behind, "s199") == 199)
    assert kv.local_value(behind, "s0") == 0
    assert kv.run(client.registry(behind))["registry"] == {"svc": "owner-1"}
    assert "installed the leader's snapshot" in cluster[behind].log_path.read_text()

    # Every node restarts from its own snapshot plus the log after it.
    for node in cluster.nodes:
        node.kill()
    for node in cluster.nodes:
        node.restart()
    kv.leader()
    for node in cluster.ids:
        kv.wait(f"{node} to recover s150", lambda n=node: kv.local_value(n, "s150") == 150)
    assert kv.run(kv.client(timeout=5.0).get("s42")).value == 42
