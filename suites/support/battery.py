"""Workload clients for the nemesis battery: register and multi-key kv ops against the
reference cluster, each op sent to a node drawn at random (a deposed leader included),
with per-group timeouts.

* Register model (``read`` / ``write`` / ``cas``) as in ``refsys_client``.
* kv model (``get`` / ``put`` / ``append``): a missing key reads ``""``; the node
  has no append, so one is a read followed by compare-and-set retries -- it takes
  effect at the cas that swaps, and any unknown cas makes the whole op unknown.
* Short and long timeouts in one workload (``timeout_groups``): short clients give
  up before the node's own bound on a forwarded request, long ones wait past it,
  so the node's answer to a forward that got no reply reaches a client.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from distlab.workload import Client as WorkloadClient
from distlab.workload import ClientGroup, Completion, OpMix
from distlab.workload.ops import Operation
from reference_system.client import Client, Result

#: most compare-and-set rounds one append tries before it gives up (as failed)
APPEND_ROUNDS = 8


class BatteryClient(WorkloadClient):
    """One logical process: its own event loop, connections and node choices."""

    def __init__(
        self,
        addresses: dict[str, tuple[str, int]],
        process: int,
        seed: int,
        timeout_cap_s: float | None = None,
        key_prefix: str = "",
        attempt_timeout_s: float = 0.5,
    ) -> None:
        self._runner = asyncio.Runner()
        self._rng = random.Random(seed * 1_000_003 + process)
        self._nodes = sorted(addresses)
        self._cap = timeout_cap_s
        # Two workloads on one cluster must not share keys (their models differ).
        self._prefix = key_prefix
        self._client = Client(
            addresses,
            seed=seed + process,
            client_id=f"b{process}-{seed}",
            attempt_timeout=attempt_timeout_s,
        )

    def invoke(self, op: Operation, timeout_s: float) -> Completion:
        timeout = min(timeout_s, self._cap) if self._cap else timeout_s
        node = self._rng.choice(self._nodes)
        return self._runner.run(self._invoke(op, node, timeout))

    async def _invoke(self, op: Operation, node: str, timeout: float) -> Completion:
        c, key = self._client, f"{self._prefix}{op.key}"
        if op.f in ("read", "get"):
            r = await c.get(key, node=node, timeout=timeout)
            value = r.value if op.f == "read" or r.value is not None else ""
            return _completion(r, value)
        if op.f in ("write", "put"):
            return _completion(await c.put(key, op.value, node=node, timeout=timeout), None)
        if op.f == "cas":
            expected, new = op.value
            r = await c.cas(key, expected, new, node=node, timeout=timeout)
            if r.ok and not r.reply.get("swapped"):
                return Completion.fail("cas-mismatch")
            return _completion(r, None)
        if op.f == "append":
            return await self._append(key, str(op.value), node, timeout)
        return Completion.fail(f"unknown f {op.f!r}")

    async def _append(self, key: str, token: str, node: str, timeout: float) -> Completion:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        read = await self._client.get(key, node=node, timeout=timeout)
        if not read.ok:
            return Completion.fail(read.error or "read failed")  # nothing was written
        current = read.value
        for _ in range(APPEND_ROUNDS):
            left = deadline - loop.time()
            if left <= 0:
                break
            new = (current or "") + token
            r = await self._client.cas(key, current, new, node=node, timeout=left)
            if r.outcome != "ok":
                return _completion(r, None)  # unknown stays unknown; fail did not write
            if r.reply.get("swapped"):
                return Completion.ok(None)
            current = r.value
        return Completion.fail("append: lost every compare-and-set race")

    def close(self) -> None:
        closing = self._client.close()
        try:
            self._runner.run(closing)
        except Exception:  # closed from the watchdog's thread while a call hangs
            closing.close()
        try:
            self._runner.close()
        except Exception:
            pass


def _completion(r: Result, value: Any) -> Completion:
    if r.outcome == "ok":
        return Completion.ok(value)
    if r.outcome == "fail":
        return Completion.fail(r.error or "fail")
    return Completion.unknown(r.error or "unknown")


def battery_factory(
    cluster: Any,
    seed: int,
    timeout_cap_s: float | None = None,
    key_prefix: str = "",
    attempt_timeout_s: float = 0.5,
) -> Callable[[int], BatteryClient]:
    """A fresh ``BatteryClient`` per process id, optionally with a shorter timeout."""
    addresses = {i: cluster.client_address(i) for i in cluster.ids}
    return lambda process: BatteryClient(
        addresses, process, seed, timeout_cap_s, key_prefix, attempt_timeout_s
    )


def timeout_groups(
    cluster: Any, seed: int, mix: OpMix, short: int, long: int, short_s: float, long_s: float
) -> list[ClientGroup]:
    """Two client groups with the same mix: ``short`` clients capped at ``short_s``
    (one attempt may last half a second), ``long`` clients with the workload's own
    timeout whose single attempts may last ``long_s``, so that a node's own late
    answer (to a forward that got no reply, say) reaches them."""
    long_factory = battery_factory(cluster, seed + 1, attempt_timeout_s=long_s)
    return [
        ClientGroup("short", short, mix, factory=battery_factory(cluster, seed, short_s)),
        ClientGroup("long", long, mix, factory=long_factory),
    ]
