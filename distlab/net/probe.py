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
IDENTIFY_HOOK = "hook:distlab.net.probe:identify_hello"  # the same rule as a hook


def identify_hello(seen: bytes) -> str | None:
    """An ingress identification hook: the id in a leading ``HELLO <id>`` line."""
    if not seen.startswith(b"HELLO "):
        return None
    line, newline, _ = seen[6:].partition(b"\n")
    return line.decode(errors="replace") if newline and line else None


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
        self,
        dials: Iterable[tuple[str, str, int]],
        window_s: float = 0.3,
        *,
        expect: dict[Flow, tuple[bool, bool]] | None = None,
        patience_s: float = 5.0,
    ) -> dict[Flow, tuple[bool, bool]]:
        """Dial each ``(src, dst, port)`` at once; per link, did bytes get (there, back)?

        Bytes that have not arrived after ``window_s`` count as cut. With
        ``expect``, first wait up to ``patience_s`` for what should arrive (a
        loaded machine may be slow), then ``window_s`` more for what should
        not -- so a slow machine does not look like a partition.
        """
        return self._run(
            self._measure(list(dials), window_s, expect or {}, patience_s),
            timeout=patience_s + window_s + 30,
        )

    async def _measure(
        self,
        dials: list[tuple[str, str, int]],
        window_s: float,
        expect: dict[Flow, tuple[bool, bool]],
        patience_s: float,
    ) -> dict[Flow, tuple[bool, bool]]:
        tokens = {(src, dst): f"{src}>{dst}#{next(self._nonce)}" for src, dst, _ in dials}
        writers: list[asyncio.StreamWriter] = []
        greetings = {
            (src, dst): asyncio.ensure_future(
                self._dial(src, dst, port, tokens[(src, dst)], patience_s + window_s, writers)
            )
            for src, dst, port in dials
        }

        def arrived(link: Flow) -> bool:
            return tokens[link] in self.tokens

        def greeted(link: Flow) -> bool:
            task = greetings[link]
            return task.done() and task.result()

        try:
            deadline = self.loop.time() + patience_s
            while expect and self.loop.time() < deadline:
                if all(
                    (not there or arrived(link)) and (not back or greeted(link))
                    for link, (there, back) in expect.items()
                ):
                    break
                await asyncio.sleep(0.005)
            # Connections stay open meanwhile, so bytes in flight are not cut short.
            await asyncio.sleep(window_s)
            return {link: (arrived(link), greeted(link)) for link in greetings}
        finally:
            for task in greetings.values():
                task.cancel()
            for writer in writers:
                writer.transport.abort()

    async def _dial(
        self,
        src: str,
        dst: str,
        port: int,
        token: str,
        timeout: float,
        writers: list[asyncio.StreamWriter],
    ) -> bool:
        """Connect, say hello and the token; True once ``dst``'s greeting comes back."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), timeout
            )
        except (OSError, TimeoutError):
            return False
        writers.append(writer)
        try:
            writer.write(HELLO.format(id=src).encode() + f"TOKEN {token}\n".encode())
            line = await reader.readline()
        except OSError:
            return False
        return line == f"I am {dst}\n".encode()

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
