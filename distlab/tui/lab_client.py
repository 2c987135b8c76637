"""The lab's default workload client and status probe: the reference KV system.

A lab session needs to know how to talk to the system under test. Another
system plugs in with ``distlab lab --client MODULE``: a module with the same
two functions, ``make_client(process, addresses)`` (a
``distlab.workload.client.Client`` for the register model) and
``status(addresses)`` (``{node: {"role", "term", "leader"}}``, missing nodes
left out).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

from distlab.workload.client import Client, Completion
from distlab.workload.ops import Operation

Address = tuple[str, int]


class ReferenceKVClient(Client):
    """The register model's read / write / cas over the reference nodes' async client,
    run on this client's own event loop (one Jepsen process per thread)."""

    def __init__(self, process: int, addresses: Mapping[str, Address]) -> None:
        from reference_system.client import Client as KV

        self.loop = asyncio.new_event_loop()
        self.kv = KV(dict(addresses), timeout=1.0, attempt_timeout=0.5, seed=process)
        self.owner = threading.get_ident()  # the loop is only ever run by this thread

    def invoke(self, op: Operation, timeout_s: float) -> Completion:
        key = str(op.key)
        if op.f == "read":
            call = self.kv.get(key, timeout=timeout_s)
        elif op.f == "write":
            call = self.kv.put(key, op.value, timeout=timeout_s)
        else:
            expected, new = op.value
            call = self.kv.cas(key, expected, new, timeout=timeout_s)
        result = self.loop.run_until_complete(call)
        if result.outcome == "ok":
            if op.f == "cas" and not result.reply.get("swapped", False):
                return Completion.fail("cas: value differed")
            return Completion.ok(result.value if op.f == "read" else None)
        if result.outcome == "fail":
            return Completion.fail(result.error or "refused")
        return Completion.unknown(result.error or "unknown")

    def close(self) -> None:
        if self.loop.is_closed():
            return  # closed already (the workload may close an abandoned client twice)
        if threading.get_ident() != self.owner:
            # The workload's watchdog abandons a hung op from its own thread; only the
            # owner may run the loop, so close the connections on it if it is running
            # (aborting the call in flight) and leave the rest to the owner's exit.
            if self.loop.is_running():
                self.loop.call_soon_threadsafe(lambda: self.loop.create_task(self.kv.close()))
            return
        try:
            self.loop.run_until_complete(self.kv.close())
        finally:
            self.loop.close()


def make_client(process: int, addresses: Mapping[str, Address]) -> Client:
    """A register client for the workload."""
    return ReferenceKVClient(process, addresses)


def status(addresses: Mapping[str, Address], timeout_s: float = 0.3) -> dict[str, dict[str, Any]]:
    """Each reachable node's own view: role, term, leader."""
    from reference_system.client import Client as KV

    async def ask() -> dict[str, dict[str, Any]]:
        kv = KV(dict(addresses), attempt_timeout=timeout_s)
        out: dict[str, dict[str, Any]] = {}
        try:
            replies = await asyncio.gather(
                *(kv.status(node, timeout=timeout_s) for node in addresses), return_exceptions=True
            )
            for node, reply in zip(addresses, replies, strict=True):
                if isinstance(reply, dict) and reply.get("ok"):
                    out[node] = {k: reply.get(k) for k in ("role", "term", "leader")}
        finally:
            await kv.close()
        return out

    return asyncio.run(ask())
