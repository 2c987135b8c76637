"""Node-to-node transport: one outbound connection per peer, inbound connections only read.

Each node sends to a peer only over the connection it dialled itself, and
receives only on connections peers dialled to it. A reply (a Raft response or
the answer to a forwarded request) therefore travels over the *replier's*
outbound connection. That keeps every byte from A to B on the A->B link, so a
fault proxy that cuts one direction of one link affects exactly that traffic.

Sending never blocks the node: frames are written to the socket's buffer, and
dropped when the link is down or its buffer is over ``MAX_BUFFERED`` (Raft
resends what matters). A fault proxy in blackhole mode can drop bytes in the
middle of a frame; the receiver then sees garbage, treats any undecodable peer
frame as a broken connection and closes it, and the sender dials again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from reference_system import codec

log = logging.getLogger("reference_system.node.peers")

MAX_BUFFERED = 8 << 20
RECONNECT_MIN_S = 0.02
RECONNECT_MAX_S = 0.5
CONNECT_TIMEOUT_S = 1.0


class PeerLink:
    """The outbound connection from this node to one peer, re-dialled when it breaks."""

    def __init__(self, peer: str, address: tuple[str, int], own_id: str = "") -> None:
        self.peer = peer
        # First frame on every connection: says who dials, so that an ingress proxy
        # (one proxy per node, shared by all diallers) can tell links apart with a
        # regex such as '"from":"([^"]+)"'. Receivers ignore it.
        self._hello = codec.encode({"t": "hello", "from": own_id})
        self.address = address
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.dropped = 0
        self.connected_since = 0.0  # loop time of the current connection
        self.redials = 0
        self.failures = 0  # connects that failed or connections that broke
        self.last_error = ""
        self.welcomed = 0  # connections the right peer answered
        self.miswired = 0  # connections something else answered

    @property
    def connected(self) -> bool:
        """Whether frames sent now will at least reach the socket."""
        return self._writer is not None and not self._writer.is_closing()

    def start(self) -> None:
        """Start dialling (and re-dialling) in the background."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"link-{self.peer}")

    def send(self, frame: bytes) -> bool:
        """Queue one encoded frame; False if it was dropped (link down or backed up)."""
        w = self._writer
        if w is None or w.is_closing():
            self.dropped += 1
            return False
        if w.transport.get_write_buffer_size() > MAX_BUFFERED:
            self.dropped += 1
            return False
        try:
            w.write(frame)
        except RuntimeError:
            # uvloop raises here when the peer reset the socket before our
            # reader saw it (is_closing() is still False): the link is down.
            self.dropped += 1
            return False
        return True

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = RECONNECT_MIN_S
        while not self._closing:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(*self.address), CONNECT_TIMEOUT_S
                )
            except (OSError, TimeoutError, ValueError) as exc:
                self.failures += 1
                self.last_error = f"connect: {exc!r}"[:200]
                await asyncio.sleep(delay)
                delay = min(RECONNECT_MAX_S, delay * 2)
                continue
            self.connected_since = loop.time()
            try:
                # Inside the try: a proxy in front of a node that is not up yet
                # accepts and resets at once, and uvloop's write then raises
                # RuntimeError. Outside it, that killed this task for good and the
                # link never dialled again (a node that never heard its leader).
                writer.write(self._hello)
                self._writer = writer
                # Only the peer's welcome comes back on an outbound link; otherwise
                # reading just tells us that the connection closed.
                decoder = codec.FrameDecoder(4096, strict=True)
                while data := await reader.read(65536):
                    for frame in decoder.feed(data):
                        self._check_welcome(frame)
            except Exception as exc:  # whatever breaks one connection, dial again
                log.debug("link to %s broke: %r", self.peer, exc)
                self.failures += 1
                self.last_error = f"broke: {exc!r}"[:200]
            finally:
                self._writer = None
                writer.close()
            # A proxy in front of a dead node accepts and resets at once: back off
            # as for a refused connect, or we would spin.
            lived = loop.time() - self.connected_since
            delay = RECONNECT_MIN_S if lived > 1.0 else min(RECONNECT_MAX_S, delay * 2)
            await asyncio.sleep(delay)

    def _check_welcome(self, frame: Any) -> None:
        answered = frame.get("id") if isinstance(frame, dict) else None
        if answered == self.peer:
            self.welcomed += 1
        else:
            # A miswired address (or a port some other process took): say so loudly.
            log.error("link to %s at %s:%d is answered by %r", self.peer, *self.address, answered)
            self.miswired += 1

    def redial(self) -> None:
        """Drop the current connection (it looks dead) so that the link dials again."""
        if self._writer is not None:
            self.redials += 1
            self._writer.transport.abort()

    async def close(self) -> None:
        """Stop dialling and close the connection."""
        self._closing = True
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class PeerServer:
    """Accepts connections from peers and hands every decoded frame to ``on_frame``."""

    def __init__(self, on_frame: Callable[[dict[str, Any]], None], own_id: str = "") -> None:
        self.on_frame = on_frame
        # The answer to a dialler's hello: tells it which node its address reached.
        self._welcome = codec.encode({"t": "welcome", "id": own_id})
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port``."""
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        decoder = codec.FrameDecoder(codec.MAX_PEER_FRAME, strict=True)
        try:
            while data := await reader.read(1 << 18):
                for frame in decoder.feed(data):
                    if isinstance(frame, codec.MalformedFrame):
                        raise frame
                    if frame.get("t") == "hello":
                        writer.write(self._welcome)
                    try:
                        self.on_frame(frame)
                    except Exception:  # a bad frame must not take the node down
                        log.exception("dropping a peer frame that could not be handled")
        except (codec.FrameError, OSError, ConnectionError) as exc:
            log.info("closing a peer connection: %s", exc)
        finally:
            self._conns.discard(writer)
            writer.close()

    async def close(self) -> None:
        """Stop listening and close every inbound connection."""
        if self._server is not None:
            self._server.close()
        for w in list(self._conns):
            w.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
