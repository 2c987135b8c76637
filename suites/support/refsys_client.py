"""The reference KV system as a distlab workload client, and its role probe.

``reference_system`` must not import distlab, so the glue lives here, on the
suites' side: ``RefsysClient`` maps the register workload (read / write /
cas) onto the reference client, one event loop per logical process, and
``role_probe(cluster)`` asks a node's status who leads (the nemesis's
``leader`` / ``followers`` targets).

Each op goes to a node drawn from the client's seeded generator, not always
the leader: a follower must forward or refuse, and a follower that answers a
read from stale local state (the ``stale-read`` planted bug) is caught.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from distlab.workload import Client as WorkloadClient
from distlab.workload import Completion
from distlab.workload.ops import Operation
from reference_system.client import Client


class RefsysClient(WorkloadClient):
    """One logical process talking to the reference cluster (its own loop and connections)."""

    def __init__(
        self,
        addresses: dict[str, tuple[str, int]],
        process: int,
        seed: int = 0,
        any_node: bool = True,
        key_prefix: str = "",
    ) -> None:
        self._runner = asyncio.Runner()
        self._rng = random.Random(seed * 1_000_003 + process)
        self._nodes = sorted(addresses)
        self._any_node = any_node
        # Keys of one run never meet values an earlier run left in the same cluster.
        self._prefix = key_prefix
        self._client = Client(
            addresses, seed=seed + process, client_id=f"p{process}-{seed}", attempt_timeout=0.5
        )

    def invoke(self, op: Operation, timeout_s: float) -> Completion:
        node = self._rng.choice(self._nodes) if self._any_node else None
        key = f"{self._prefix}{op.key}"
        c = self._client
        if op.f == "read":
            r = self._runner.run(c.get(key, node=node, timeout=timeout_s))
        elif op.f == "write":
            r = self._runner.run(c.put(key, op.value, node=node, timeout=timeout_s))
        elif op.f == "cas":
            expected, new = op.value
            r = self._runner.run(c.cas(key, expected, new, node=node, timeout=timeout_s))
            if r.ok and not r.reply.get("swapped"):
                return Completion.fail("cas-mismatch")
        else:
            return Completion.fail(f"unknown f {op.f!r}")
        if r.outcome == "ok":
            return Completion.ok(r.value if op.f == "read" else None)
        if r.outcome == "fail":
            return Completion.fail(r.error or "fail")
        return Completion.unknown(r.error or "unknown")

    def close(self) -> None:
        closing = self._client.close()
        try:
            self._runner.run(closing)
        except Exception:  # closed from the watchdog's thread while a call hangs: drop it
            closing.close()
        try:
            self._runner.close()
        except Exception:
            pass


def client_factory(
    cluster: Any, seed: int = 0, any_node: bool = True, key_prefix: str = ""
) -> Callable[[int], RefsysClient]:
    """``workload(client_factory(cluster, seed), ...)``: a fresh client per process id."""
    addresses = {i: cluster.client_address(i) for i in cluster.ids}
    return lambda process: RefsysClient(addresses, process, seed, any_node, key_prefix)


def role_probe(cluster: Any, timeout_s: float = 0.5) -> Callable[[str], str | None]:
    """``probe(node) -> role`` from the node's own status, on its direct port (past any proxy)."""

    def probe(node: str) -> str | None:
        n = cluster[node]
        if str(n.state) != "up":
            return None
        client = Client({node: ("127.0.0.1", n.direct_port)}, attempt_timeout=timeout_s)

        async def ask() -> dict[str, Any]:
            try:
                return await client.status(node, timeout=timeout_s)
            finally:
                await client.close()

        status = asyncio.run(ask())
        # A leader without quorum is leader in name only; do not aim "leader" faults at it.
        if status.get("role") == "leader" and not status.get("quorum", True):
            return "leader-without-quorum"
        return status.get("role")

    return probe
