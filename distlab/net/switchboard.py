"""The proxy server's state: listening proxies, live connections, the fault table.

Everything here runs on one event loop (in the proxy server process, or in a
background thread for in-process mode). ``Switchboard.handle`` takes one
control request as plain JSON-able data and returns the reply, so both modes
speak the same protocol.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from distlab.net.connection import Connection, ReadBuffer, Side
from distlab.net.faults import HEALTHY, Flow, FlowFaults
from distlab.net.ingress import Identifier, check_policy

LOCALHOST = "127.0.0.1"


@dataclass
class Proxy:
    """One listening proxy: a directed link (src known) or a node's ingress (src found per connection)."""

    kind: str  # "link" | "ingress"
    src: str | None
    dst: str
    upstream: tuple[str, int]
    identifier: Identifier | None = None
    unidentified: str = "reject"
    port: int = 0
    server: asyncio.AbstractServer | None = None
    connections: set[Connection] = field(default_factory=set)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "src": self.src,
            "dst": self.dst,
            "port": self.port,
            "upstream": list(self.upstream),
            "connections": len(self.connections),
            "unidentified": self.unidentified if self.kind == "ingress" else None,
        }


class Switchboard:
    """Proxies, connections and faults, and the control requests that change them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, seed: int = 0) -> None:
        self.loop = loop
        self.rng = random.Random(seed)
        self.read_buffer = ReadBuffer()
        self.faults: dict[Flow, FlowFaults] = {}
        self.proxies: list[Proxy] = []
        self.by_flow: dict[Flow, set[Connection]] = defaultdict(set)
        # Ingress mode: the (dialler, node) links the topology has; None = all.
        self.dialable: set[Flow] | None = None

    # -- used by connections ----------------------------------------------

    def lookup(self, flow: Flow) -> FlowFaults | None:
        """The faults on a flow, or None when it is healthy (the fast path)."""
        return self.faults.get(flow)

    def rejects(self, conn: Connection) -> bool:
        return any(
            (f := self.faults.get(flow)) is not None and f.block == "reject" for flow in conn.flows
        )

    def may_dial(self, conn: Connection) -> bool:
        """Whether the topology has the link this ingress connection was dialled over."""
        if conn.proxy.kind != "ingress" or self.dialable is None or conn.dialler_id is None:
            return True
        return (conn.dialler_id, conn.proxy.dst) in self.dialable

    def register(self, conn: Connection) -> None:
        conn.proxy.connections.add(conn)

    def index(self, conn: Connection) -> None:
        for flow in conn.flows:
            self.by_flow[flow].add(conn)

    def unregister(self, conn: Connection) -> None:
        conn.proxy.connections.discard(conn)
        for flow in conn.flows:
            conns = self.by_flow.get(flow)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del self.by_flow[flow]

    # -- control ----------------------------------------------------------

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one control request; errors come back as ``{"ok": false, "error": ...}``."""
        op = request.get("op")
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            return {"ok": False, "error": f"unknown control op {op!r}"}
        try:
            result = await handler(**{k: v for k, v in request.items() if k != "op"})
        except Exception as e:  # reported to the controlling process, which raises it there
            return {"ok": False, "error": str(e) or type(e).__name__, "type": type(e).__name__}
        return {"ok": True, "result": result}

    async def _listen(self, proxy: Proxy, port: int) -> int:
        proxy.server = await self.loop.create_server(
            lambda: Side(Connection(proxy, self), dialler=True),
            LOCALHOST,
            port,
            reuse_address=True,
            backlog=512,
        )
        proxy.port = proxy.server.sockets[0].getsockname()[1]
        self.proxies.append(proxy)
        return proxy.port

    async def op_add_link(self, src: str, dst: str, upstream: list[Any], port: int = 0) -> int:
        proxy = Proxy("link", src, dst, (str(upstream[0]), int(upstream[1])))
        return await self._listen(proxy, port)

    async def op_add_ingress(
        self,
        dst: str,
        upstream: list[Any],
        identify: str,
        unidentified: str = "reject",
        port: int = 0,
    ) -> int:
        proxy = Proxy(
            "ingress",
            None,
            dst,
            (str(upstream[0]), int(upstream[1])),
            identifier=Identifier(identify),
            unidentified=check_policy(unidentified),
        )
        return await self._listen(proxy, port)

    async def op_set_faults(self, faults: list[list[Any]], reset_gaps: bool = False) -> int:
        """Set (or with ``None``, clear) the faults of each ``[src, dst, faults]``; returns flows changed.

        ``reset_gaps``: reset the connections that lost bytes and are open again.
        """
        touched: set[Connection] = set()
        for src, dst, wire in faults:
            flow = (src, dst)
            new = FlowFaults(**wire) if wire else HEALTHY
            if new.healthy:
                self.faults.pop(flow, None)
            else:
                self.faults[flow] = new
            touched |= self.by_flow.get(flow, set())
        for conn in list(touched):
            if conn.closed:
                continue
            if self.rejects(conn):
                conn.reset()
            else:
                conn.changed(reset_gaps)
        return len(faults)

    async def op_set_topology(self, links: list[list[str]] | None) -> int:
        """Ingress diallers may only dial along ``links`` (None: any); returns connections reset."""
        self.dialable = None if links is None else {(a, b) for a, b in links}
        refused = [
            conn
            for proxy in self.proxies
            for conn in list(proxy.connections)
            if not conn.closed and not self.may_dial(conn)
        ]
        for conn in refused:
            conn.reset()
        return len(refused)

    async def op_reset(self, flows: list[list[str]]) -> int:
        """Reset every live connection carrying one of ``flows``; returns how many."""
        victims: set[Connection] = set()
        for src, dst in flows:
            victims |= self.by_flow.get((src, dst), set())
        for conn in victims:
            conn.reset()
        return len(victims)

    async def op_state(self) -> dict[str, Any]:
        return {
            "proxies": [p.describe() for p in self.proxies],
            "faults": [[s, d, f.to_dict()] for (s, d), f in sorted(self.faults.items())],
            "topology": None if self.dialable is None else sorted(self.dialable),
        }

    async def op_ping(self) -> str:
        return "pong"

    async def op_close(self) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop listening and reset every connection."""
        for proxy in self.proxies:
            if proxy.server is not None:
                proxy.server.close()
            for conn in list(proxy.connections):
                conn.reset()
        for proxy in self.proxies:
            if proxy.server is not None:
                await proxy.server.wait_closed()
        self.proxies.clear()
