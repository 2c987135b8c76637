"""The clients' door into a netns lab: a 127.0.0.1 port per node in the test process.

Clients (the workload, suites, the lab, health probes) live in the root
namespace and dial ``127.0.0.1``. The door listens there and opens each
upstream connection with a socket made inside the bridge namespace, so the
node sees its client arrive from the bridge's address (``client`` in the
fault table) and the root namespace gains no route, link or rule. One
asyncio loop on one daemon thread carries every door of a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from concurrent.futures import Future

from distlab.cluster.ports import HOST
from distlab.net.netns_kernel import socket_in

CHUNK = 64 * 1024


class ClientDoor:
    """127.0.0.1 ports that forward into the bridge namespace ``ns_path``."""

    def __init__(self, ns_path: str) -> None:
        self.ns_path = ns_path
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.base_events.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="distlab-netns-door", daemon=True
        )
        self._thread.start()

    def add(self, upstream: tuple[str, int]) -> int:
        """A new 127.0.0.1 port whose connections go to ``upstream`` inside the lab."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, 0))
        listener.listen(128)
        listener.setblocking(False)
        port = int(listener.getsockname()[1])

        async def serve() -> None:
            server = await asyncio.start_server(
                lambda r, w: self._pipe(r, w, upstream), sock=listener
            )
            self._servers.append(server)

        future: Future[None] = asyncio.run_coroutine_threadsafe(serve(), self._loop)
        future.result(timeout=10)
        return port

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: tuple[str, int]
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        up: asyncio.StreamWriter | None = None
        try:
            sock = socket_in(self.ns_path)
            sock.setblocking(False)
            try:
                await asyncio.wait_for(self._loop.sock_connect(sock, upstream), 5)
            except (OSError, TimeoutError):
                sock.close()
                return  # closing the client's connection says the node is not there
            up_reader, up = await asyncio.open_connection(sock=sock)
            await asyncio.gather(_copy(reader, up), _copy(up_reader, writer))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, up):
                if w is not None:
                    w.close()
            self._tasks.discard(task)

    def close(self) -> None:
        """Stop listening and cut every forwarded connection."""
        if self._loop.is_closed():
            return

        async def stop() -> None:
            for server in self._servers:
                server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.sleep(0)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()
