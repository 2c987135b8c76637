"""The client-facing side of a node, and the process's life: start, serve, stop on SIGTERM.

Clients may pipeline: every request carries an ``id`` and is answered with
the same ``id``, in completion order. A bad frame never takes the node down:
a payload that is not a JSON object gets an error reply and the connection
stays open; an oversized frame gets an error reply and the connection is
closed (its payload cannot be skipped safely). ``subscribe`` turns a
connection into an event feed: matching events are pushed as
``{"push": "event", ...}`` frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from typing import Any

from reference_system import codec
from reference_system.node.context import TraceContext, received
from reference_system.node.node import Node, error
from reference_system.node.options import NodeOptions
from reference_system.statemachine import Event, topic_matches

log = logging.getLogger("reference_system.node")

#: A client that does not read its replies is cut off once this much is queued for it.
MAX_CLIENT_BACKLOG = 16 << 20
MAX_PATTERN = 256


class ClientConnection:
    """One client's socket: replies and pushed events go out through ``send``."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.patterns: list[str] = []

    def send(self, message: dict[str, Any]) -> None:
        """Queue one reply; a reply too big for a frame becomes an error reply."""
        if self.writer.is_closing():
            return
        try:
            frame = codec.encode(message, codec.MAX_CLIENT_FRAME)
        except ValueError as exc:
            frame = codec.encode({"tag": message.get("tag"), **error("too_large", str(exc))})
        if self.writer.transport.get_write_buffer_size() > MAX_CLIENT_BACKLOG:
            log.warning("closing a client that does not read its replies")
            self.writer.close()
            return
        try:
            self.writer.write(frame)
        except RuntimeError:
            # uvloop: the client reset its socket before our reader noticed
            # (is_closing() still False); the reply has nobody to go to.
            self.writer.close()


class ClientServer:
    """Accepts client connections and runs their requests against the node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.subscribers: set[ClientConnection] = set()
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        node.on_event = self.deliver

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port``."""
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = ClientConnection(writer)
        self._conns.add(writer)
        decoder = codec.FrameDecoder(codec.MAX_CLIENT_FRAME)
        try:
            while data := await reader.read(1 << 16):
                try:
                    frames = decoder.feed(data)
                except codec.FrameTooLarge as exc:
                    conn.send({"tag": None, **error("too_large", str(exc))})
                    break
                for frame in frames:
                    if isinstance(frame, codec.MalformedFrame):
                        conn.send({"tag": None, **error("bad_request", str(frame))})
                    elif frame.get("op") == "subscribe":
                        self._subscribe(conn, frame)
                    else:
                        self._start(conn, frame)
        except (OSError, ConnectionError):
            pass
        finally:
            self.subscribers.discard(conn)
            self._conns.discard(writer)
            with contextlib.suppress(Exception):
                await writer.drain()
            writer.close()

    def _start(self, conn: ClientConnection, req: dict[str, Any]) -> None:
        ctx = received(req.get("ctx"))
        fut = self.node.execute_now(req)
        if fut is None:
            self.node.spawn(self._answer(conn, req, ctx))
        else:
            fut.add_done_callback(functools.partial(self._answered, conn, req.get("tag"), ctx))

    def _answered(
        self, conn: ClientConnection, tag: Any, ctx: TraceContext, fut: asyncio.Future[Any]
    ) -> None:
        if not fut.cancelled():
            conn.send({**self.node.base(ctx), **fut.result(), "tag": tag})

    async def _answer(self, conn: ClientConnection, req: dict[str, Any], ctx: TraceContext) -> None:
        try:
            reply = await self.node.execute(req, ctx)
        except Exception as exc:  # one request's bug must not end the connection
            log.exception("request %r failed", req.get("op"))
            reply = error("internal", f"{type(exc).__name__}: {exc}")
        conn.send({**reply, "tag": req.get("tag")})

    def _subscribe(self, conn: ClientConnection, req: dict[str, Any]) -> None:
        pattern = req.get("pattern")
        if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN:
            conn.send(
                {
                    "tag": req.get("tag"),
                    **error("bad_request", "'pattern' must be a non-empty string"),
                }
            )
            return
        conn.patterns.append(pattern)
        self.subscribers.add(conn)
        ctx = received(req.get("ctx"))
        conn.send({"tag": req.get("tag"), "ok": True, "pattern": pattern, **self.node.base(ctx)})

    def deliver(self, event: Event) -> None:
        """Push an applied event to this node's matching subscribers."""
        for conn in list(self.subscribers):
            if any(topic_matches(p, event.topic) for p in conn.patterns):
                conn.send(
                    {
                        "push": "event",
                        "topic": event.topic,
                        "message": event.message,
                        "seq": event.seq,
                        "node": self.node.id,
                    }
                )

    async def close(self) -> None:
        """Stop listening and close every client connection."""
        if self._server is not None:
            self._server.close()
        for w in list(self._conns):
            w.close()


async def serve(opts: NodeOptions, seed: int) -> int:
    """Run a node until SIGTERM/SIGINT; returns the exit code."""
    loop = asyncio.get_running_loop()
    node = Node(opts, seed)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    clients = ClientServer(node)
    tasks: list[asyncio.Task[Any]] = []
    code = 0
    try:
        await node.peer_server.start(opts.host, opts.peer_port)
        for link in node.links.values():
            link.start()
        tasks = [
            loop.create_task(node.ready_loop(), name="ready"),
            loop.create_task(node.tick_loop(), name="tick"),
        ]
        # Listening for clients last: the lab's health check is a connect to this port.
        await clients.start(opts.host, opts.port)
        log.info(
            "%s: serving clients on %s:%d, peers on %d",
            opts.id,
            opts.host,
            opts.port,
            opts.peer_port,
        )
        stopper = loop.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                log.error("%s: %s stopped: %r", opts.id, task.get_name(), task.exception())
                code = 1
        stopper.cancel()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await clients.close()
        # Let an fsync running in the executor finish before the log is closed.
        await loop.shutdown_default_executor()
        await node.close()
    log.info("%s: stopped", opts.id)
    return code
