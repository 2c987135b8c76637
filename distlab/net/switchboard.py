"""The proxy server's state: listening proxies, live connections, the fault table.

Everything here runs on one event loop (in the proxy server process, or in a
background thread for in-process mode). ``Switchboard.handle`` takes one
control request as plain JSON-able data, decodes it once into a typed op
(``distlab.net.ops``) and returns the reply, so both modes speak the same
protocol.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, assert_never

from distlab.net import ops
from distlab.net.connection import Connection, ReadBuffer, Side
from distlab.net.faults import Flow, FlowFaults
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
        # Ingress rules by port or address: every address a node is known by -> its id.
        self.address_book: dict[str, str] | None = None
        self.identify_errors: list[str] = []  # rules that named a non-node, first seen first
        self.closed = False

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

    def misnamed(self, message: str) -> None:
        """An ingress rule named something that is not a node: log it (once) for the controller."""
        if message not in self.identify_errors and len(self.identify_errors) < 20:
            self.identify_errors.append(message)
            print(f"distlab.net: error: {message}", file=sys.stderr, flush=True)

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

    async def handle(self, request: object) -> dict[str, Any]:
        """Decode and run one control request; errors come back as ``{"ok": false, "error": ...}``."""
        try:
            op = ops.decode(request)
            result = await self.run(op)
        except Exception as e:  # reported to the controlling process, which raises it there
            return {"ok": False, "error": str(e) or type(e).__name__, "type": type(e).__name__}
        return {"ok": True, "result": result}

    async def run(self, op: ops.Op) -> object:
        """Do one decoded control op; returns its JSON-able result."""
        match op:
            case ops.AddLink():
                return await self._listen(Proxy("link", op.src, op.dst, op.upstream), op.port)
            case ops.AddIngress():
                proxy = Proxy(
                    "ingress",
                    None,
                    op.dst,
                    op.upstream,
                    identifier=Identifier(op.identify),
                    unidentified=check_policy(op.unidentified),
                )
                return await self._listen(proxy, op.port)
            case ops.SetFaults():
                return self._set_faults(op.changes, op.reset_gaps)
            case ops.SetTopology():
                return self._set_topology(op.links)
            case ops.SetAddressBook():
                self.address_book = dict(op.entries)
                return len(op.entries)
            case ops.Reset():
                return self._reset(op.flows)
            case ops.State():
                return self._state()
            case ops.Ping():
                return "pong"
            case ops.Close():
                await self.close()
                return None
            case _:
                assert_never(op)

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

    def _set_faults(self, changes: tuple[tuple[Flow, FlowFaults], ...], reset_gaps: bool) -> int:
        touched: set[Connection] = set()
        for flow, new in changes:
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
        return len(changes)

    def _set_topology(self, links: tuple[Flow, ...] | None) -> int:
        self.dialable = None if links is None else set(links)
        refused = [
            conn
            for proxy in self.proxies
            for conn in list(proxy.connections)
            if not conn.closed and not self.may_dial(conn)
        ]
        for conn in refused:
            conn.reset()
        return len(refused)

    def _reset(self, flows: tuple[Flow, ...]) -> int:
        victims: set[Connection] = set()
        for flow in flows:
            victims |= self.by_flow.get(flow, set())
        for conn in victims:
            conn.reset()
        return len(victims)

    def _state(self) -> dict[str, Any]:
        return {
            "proxies": [p.describe() for p in self.proxies],
            "faults": [[s, d, f.to_dict()] for (s, d), f in sorted(self.faults.items())],
            "topology": None if self.dialable is None else sorted(self.dialable),
            "identify_errors": list(self.identify_errors),
        }

    async def close(self) -> None:
        """Stop listening and reset every connection."""
        self.closed = True
        for proxy in self.proxies:
            if proxy.server is not None:
                proxy.server.close()
            for conn in list(proxy.connections):
                conn.reset()
        for proxy in self.proxies:
            if proxy.server is not None:
                await proxy.server.wait_closed()
        self.proxies.clear()
