"""The reference KV system as a distlab client: the one adapter the suites and the lab share.

``reference_system`` must not import distlab, so the glue lives here, on the
suites' side:

- ``RefsysClient`` maps the register workload (read / write / cas) onto the
  reference client, one event loop per logical process;
- ``status(addresses)`` asks each node for its own view (role, term, leader,
  quorum), all nodes at once;
- ``role_probe(cluster)`` turns that into the nemesis's ``leader`` /
  ``followers`` probe;
- ``adapter`` is the same as a ``distlab.lab.LabAdapter``, named in
  ``config.toml`` as ``[lab] client = "suites.support.refsys_client:adapter"``.

Each op goes to a node drawn from the client's seeded generator, not always
the leader: a follower must forward or refuse, and a follower that answers a
read from stale local state (the ``stale-read`` planted bug) is caught.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Mapping
from typing import Any

from distlab.lab.adapter import NodeView, role_probe_from, view_probe_from
from distlab.workload import Client as WorkloadClient
from distlab.workload import Completion
from distlab.workload.ops import Operation
from reference_system.client import Client

Address = tuple[str, int]


class RefsysClient(WorkloadClient):
    """One logical process talking to the reference cluster (its own loop and connections)."""

    def __init__(
        self,
        addresses: Mapping[str, Address],
        process: int,
        seed: int = 0,
        any_node: bool = True,
        key_prefix: str = "",
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._owner = threading.get_ident()  # only this thread ever runs the loop
        self._abandoned = False
        self._rng = random.Random(seed * 1_000_003 + process)
        self._nodes = sorted(addresses)
        self._any_node = any_node
        # Keys of one run never meet values an earlier run left in the same cluster.
        self._prefix = key_prefix
        self._client = Client(
            dict(addresses),
            seed=seed + process,
            client_id=f"p{process}-{seed}",
            attempt_timeout=0.5,
        )

    def invoke(self, op: Operation, timeout_s: float) -> Completion:
        node = self._rng.choice(self._nodes) if self._any_node else None
        key = f"{self._prefix}{op.key}"
        c = self._client
        if op.f == "read":
            call = c.get(key, node=node, timeout=timeout_s)
        elif op.f == "write":
            call = c.put(key, op.value, node=node, timeout=timeout_s)
        elif op.f == "cas":
            expected, new = op.value
            call = c.cas(key, expected, new, node=node, timeout=timeout_s)
        else:
            # Never guess: an op this client does not know certainly did not happen.
            return Completion.fail(f"unknown f {op.f!r}")
        try:
            r = self._loop.run_until_complete(call)
        finally:
            if self._abandoned:  # the watchdog gave up on this call; the owner cleans up
                self._shut()
        if op.f == "cas" and r.ok and not r.reply.get("swapped"):
            return Completion.fail("cas-mismatch")
        if r.outcome == "ok":
            return Completion.ok(r.value if op.f == "read" else None)
        if r.outcome == "fail":
            return Completion.fail(r.error or "fail")
        return Completion.unknown(r.error or "unknown")

    def close(self) -> None:
        if self._loop.is_closed():
            return  # closed already (the workload may close an abandoned client twice)
        if threading.get_ident() != self._owner:
            # The workload's watchdog abandons a hung call from its own thread. Only the
            # owner may run the loop: close the connections on the running loop (which
            # ends the call in flight) and let the owner close the loop when it returns.
            self._abandoned = True
            if self._loop.is_running():
                self._loop.call_soon_threadsafe(self._abort)
            return
        self._shut()

    def _abort(self) -> None:
        self._loop.create_task(self._client.close())

    def _shut(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._loop.run_until_complete(self._client.close())
        finally:
            self._loop.close()


def client_factory(
    cluster: Any, seed: int = 0, any_node: bool = True, key_prefix: str = ""
) -> Callable[[int], RefsysClient]:
    """``workload(client_factory(cluster, seed), ...)``: a fresh client per process id."""
    addresses = {i: cluster.client_address(i) for i in cluster.ids}
    return lambda process: RefsysClient(addresses, process, seed, any_node, key_prefix)


def status(addresses: Mapping[str, Address], timeout_s: float = 0.5) -> dict[str, NodeView]:
    """Each reachable node's own view (role, term, leader, quorum); silent nodes are left out."""

    async def ask() -> dict[str, NodeView]:
        client = Client(dict(addresses), attempt_timeout=timeout_s)
        out: dict[str, NodeView] = {}
        try:
            replies = await asyncio.gather(
                *(client.status(node, timeout=timeout_s) for node in addresses),
                return_exceptions=True,
            )
        finally:
            await client.close()
        for node, reply in zip(addresses, replies, strict=True):
            if isinstance(reply, dict) and reply.get("ok", True) and reply.get("role"):
                out[node] = NodeView(
                    role=str(reply["role"]),
                    term=reply.get("term"),
                    leader=reply.get("leader"),
                    quorum=bool(reply.get("quorum", True)),
                )
        return out

    return asyncio.run(ask())


class RefsysAdapter:
    """The reference KV system as a ``distlab.lab.LabAdapter``."""

    def make_client(
        self, process: int, addresses: Mapping[str, Address], seed: int
    ) -> WorkloadClient:
        """A register client for the lab's workload."""
        return RefsysClient(addresses, process, seed)

    def status(self, addresses: Mapping[str, Address]) -> dict[str, NodeView]:
        """Each reachable node's own view."""
        return status(addresses)


adapter = RefsysAdapter()


def view_probe(cluster: Any, timeout_s: float = 0.5) -> Callable[[str], NodeView | None]:
    """``probe(node) -> NodeView`` from the node's own status, on its direct port."""
    return view_probe_from(lambda addresses: status(addresses, timeout_s), cluster)


def role_probe(cluster: Any, timeout_s: float = 0.5) -> Callable[[str], str | None]:
    """``probe(node) -> role`` from the node's own status, on its direct port (past any proxy)."""
    return role_probe_from(lambda addresses: status(addresses, timeout_s), cluster)
