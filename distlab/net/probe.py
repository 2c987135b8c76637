"""Measuring who can talk to whom through a ``Network``.

``ProbeNodes`` runs tiny stand-in nodes on a background event loop: each
greets every connection with ``I am <id>`` and records the token lines it is
sent. ``ProbeNodes.measure`` dials every link ``a -> b`` at once and reports
a pair per link: did the token ``a`` sent reach ``b``, and did ``b``'s
greeting reach ``a`` over that same connection -- so a one-way cut shows
inside one connection.
Used by the tests and handy for checking a wiring by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import threading
from collections.abc import Iterable
from typing import Any

from distlab.net.faults import Flow

HELLO = "HELLO {id}\n"  # what a probe says first, so an ingress proxy can identify it
IDENTIFY = r"HELLO (\w+)\n"  # the matching ingress rule


class _Node(asyncio.Protocol):
    def __init__(self, owner: ProbeNodes, node: str) -> None:
        self.owner, self.node = owner, node
        self.buf = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(f"I am {self.node}\n".encode())

    def data_received(self, data: bytes) -> None:
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            if line.startswith(b"TOKEN "):
                self.owner.tokens.add(line[6:].decode())
            elif line.startswith(b"ECHO "):
                self.transport.write(line + b"\n")


class ProbeNodes:
    """Stand-in nodes on 127.0.0.1, one server per id, on a loop of their own."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.ids = list(ids)
        self.tokens: set[str] = set()
        self._nonce = itertools.count()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="probe", daemon=True)
        self._thread.start()
        self._servers: dict[str, asyncio.AbstractServer] = {}
        self.ports: dict[str, int] = self._run(self._start())

    def _run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> dict[str, int]:
        ports = {}
        for node in self.ids:
            server = await self.loop.create_server(
                functools.partial(_Node, self, node), "127.0.0.1", 0
            )
            self._servers[node] = server
            ports[node] = server.sockets[0].getsockname()[1]
        return ports

    def address(self, node: str) -> tuple[str, int]:
        """Where the stand-in for ``node`` listens (the proxies' upstream)."""
        return ("127.0.0.1", self.ports[node])

    def measure(
        self, dials: Iterable[tuple[str, str, int]], window_s: float = 0.5
    ) -> dict[Flow, tuple[bool, bool]]:
        """Dial each ``(src, dst, port)`` at once; per link, did bytes get (there, back)?"""
        return self._run(self._measure(list(dials), window_s))

    async def _measure(
        self, dials: list[tuple[str, str, int]], window_s: float
    ) -> dict[Flow, tuple[bool, bool]]:
        deadline = self.loop.time() + window_s
        tokens = {(src, dst): f"{src}>{dst}#{next(self._nonce)}" for src, dst, _ in dials}
        writers: list[asyncio.StreamWriter] = []
        try:
            greeted = await asyncio.gather(
                *(
                    self._dial(src, dst, port, tokens[(src, dst)], deadline, writers)
                    for src, dst, port in dials
                )
            )
            # Connections stay open while we wait, so a token in flight is not cut short.
            while True:
                arrived = {flow: token in self.tokens for flow, token in tokens.items()}
                if all(arrived.values()) or self.loop.time() >= deadline:
                    break
                await asyncio.sleep(0.005)
        finally:
            for writer in writers:
                writer.transport.abort()
        return {
            (src, dst): (arrived[(src, dst)], back)
            for (src, dst, _), back in zip(dials, greeted, strict=True)
        }

    async def _dial(
        self,
        src: str,
        dst: str,
        port: int,
        token: str,
        deadline: float,
        writers: list[asyncio.StreamWriter],
    ) -> bool:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), max(0.01, deadline - self.loop.time())
            )
        except (OSError, TimeoutError):
            return False
        writers.append(writer)
        try:
            writer.write(HELLO.format(id=src).encode() + f"TOKEN {token}\n".encode())
            line = await asyncio.wait_for(reader.readline(), max(0.01, deadline - self.loop.time()))
            return line == f"I am {dst}\n".encode()
        except (OSError, TimeoutError):
            return False

    def close(self) -> None:
        """Stop the stand-in servers and their loop."""

        async def stop() -> None:
            for server in self._servers.values():
                server.close()

        with contextlib.suppress(Exception):
            self._run(stop(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> ProbeNodes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
