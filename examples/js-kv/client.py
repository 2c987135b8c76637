"""The workload client for js-kv: one Jepsen "process" speaking the node's HTTP API.

distlab's workload opens one ``KVClient`` per logical client and a fresh one
whenever an op's outcome is unknown. Each client is bound to one node, so in
naive mode different clients see different replicas, which is what exposes
the missing consistency.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Callable, Mapping
from typing import Any

from distlab.workload import Client, ClientSlot, Completion
from distlab.workload.ops import Operation


class KVClient(Client):
    """Reads, writes and compare-and-sets of one register per key, over HTTP."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.conn = http.client.HTTPConnection(*address, timeout=2.0)

    def invoke(self, op: Operation, timeout_s: float) -> Completion:
        self.conn.timeout = timeout_s
        if op.f == "read":
            status, body = self._call("GET", f"/kv/{op.key}")
        elif op.f == "write":
            status, body = self._call("PUT", f"/kv/{op.key}", {"value": op.value})
        elif op.f == "cas":
            expected, new = op.value
            status, body = self._call("POST", f"/cas/{op.key}", {"expected": expected, "new": new})
        else:
            return Completion.fail(f"js-kv has no op {op.f!r}")
        if status == 200:
            return Completion.ok(body.get("value") if op.f == "read" else None)
        if status == 409:
            return Completion.fail("cas mismatch")  # the leader compared and refused: no effect
        if body.get("definite") or op.f == "read":
            # A read that did not answer changed nothing, so it is a plain failure.
            return Completion.fail(body.get("error", f"HTTP {status}"))
        return Completion.unknown(body.get("error", f"HTTP {status}"))

    def _call(self, method: str, path: str, payload: Any = None) -> tuple[int, dict[str, Any]]:
        # A timeout or a reset raises out of invoke: the workload records it as unknown (info).
        body = None if payload is None else json.dumps(payload)
        self.conn.request(method, path, body=body, headers={"content-type": "application/json"})
        reply = self.conn.getresponse()
        return reply.status, json.loads(reply.read() or b"{}")

    def close(self) -> None:
        # May be called from the workload's watchdog thread while a call hangs:
        # shutting the socket down wakes the blocked read.
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conn.close()


def client_factory(cluster: Any) -> Callable[[int, ClientSlot], KVClient]:
    """``workload(client_factory(cluster), bind="member", members=cluster.ids)``: each client
    slot stays on its member for the whole run, the fresh process after an unknown
    outcome included. Unbound (a scenario's workload), process ``p`` talks to node ``p mod N``."""
    ids = list(cluster.ids)

    def make(process: int, slot: ClientSlot) -> KVClient:
        node = slot.member or ids[process % len(ids)]
        return KVClient(cluster.client_address(node))

    return make


class Adapter:
    """What `distlab lab` needs ([lab] client = "client:adapter" in config.toml)."""

    def make_client(
        self, process: int, addresses: Mapping[str, tuple[str, int]], seed: int
    ) -> KVClient:
        nodes = sorted(addresses)
        return KVClient(addresses[nodes[process % len(nodes)]])

    def status(self, addresses: Mapping[str, tuple[str, int]]) -> dict[str, dict[str, Any]]:
        """Each answering node's role from its /health: the fixed leader, or a follower."""
        views = {}
        for node, address in addresses.items():
            conn = http.client.HTTPConnection(*address, timeout=0.5)
            try:
                conn.request("GET", "/health")
                health = json.loads(conn.getresponse().read())
            except (OSError, ValueError):
                continue  # down or cut off: left out, as the adapter protocol asks
            finally:
                conn.close()
            role = (
                "replica"
                if health.get("naive")
                else ("leader" if health.get("leader") == node else "follower")
            )
            views[node] = {"role": role, "leader": health.get("leader")}
        return views


adapter = Adapter()
