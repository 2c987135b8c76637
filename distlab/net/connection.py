"""One proxied TCP connection: the dialler's socket, the upstream socket and
the two directions between them (asyncio Protocols: the cheapest path per
chunk, see bench/proxy_overhead.py)."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import TYPE_CHECKING, Any

from distlab.net.direction import Direction
from distlab.net.faults import Flow
from distlab.net.ingress import IDENTIFY_TIMEOUT_S, SCAN_LIMIT, Misnamed

if TYPE_CHECKING:
    from distlab.net.switchboard import Proxy, Switchboard


def reset_transport(transport: Any) -> None:
    """Close with an RST rather than a FIN, as a refusing or crashed peer would."""
    if transport is None or transport.is_closing():
        if transport is not None:
            transport.abort()
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


class ReadBuffer:
    """The one buffer every socket on a loop reads into (reads never overlap on
    one loop), so a healthy chunk is never copied in Python on its way through.
    Replaced when a transport keeps a view of it."""

    SIZE = 256 * 1024

    def __init__(self) -> None:
        self.view = memoryview(bytearray(self.SIZE))

    def renew(self) -> None:
        self.view = memoryview(bytearray(self.SIZE))


class Side(asyncio.BufferedProtocol):
    """One of the two sockets of a connection; forwards everything to the Connection."""

    def __init__(self, conn: Connection, dialler: bool) -> None:
        self.conn = conn
        self.dialler = dialler
        self.buffer = conn.board.read_buffer

    def connection_made(self, transport: Any) -> None:
        if self.dialler:
            self.conn.accepted(transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer.view

    def buffer_updated(self, nbytes: int) -> None:
        if self.conn.data(self.dialler, self.buffer.view[:nbytes]):
            self.buffer.renew()

    def eof_received(self) -> bool:
        self.conn.eof(self.dialler)
        return True  # keep our sending half open: TCP half-close passes through

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.lost(self.dialler)

    def pause_writing(self) -> None:
        self.conn.direction_to(self.dialler).set_out_paused(True)

    def resume_writing(self) -> None:
        self.conn.direction_to(self.dialler).set_out_paused(False)


class Connection:
    """A dialler's connection through a proxy to the upstream it stands for."""

    def __init__(self, proxy: Proxy, board: Switchboard) -> None:
        self.proxy = proxy
        self.board = board
        self.loop = board.loop
        self.dialler_id: str | None = proxy.src
        self.down: Any = None  # the dialler's socket (accepted by us)
        self.up: Any = None  # our socket to the upstream
        self.down_lost = False
        self.up_lost = False
        self.outbound = Direction(self.loop, board.lookup, board.rng)  # dialler -> upstream
        self.inbound = Direction(self.loop, board.lookup, board.rng)  # upstream -> dialler
        self.outbound.on_finish = lambda: self._finished(self.outbound)
        self.inbound.on_finish = lambda: self._finished(self.inbound)
        self.scan: bytearray | None = None  # bytes seen while unidentified
        self.connecting = False
        self.closed = False
        self.timeout: asyncio.TimerHandle | None = None

    @property
    def flows(self) -> tuple[Flow, ...]:
        if self.dialler_id is None:
            return ()
        return ((self.dialler_id, self.proxy.dst), (self.proxy.dst, self.dialler_id))

    def direction_to(self, dialler: bool) -> Direction:
        return self.inbound if dialler else self.outbound

    # -- lifecycle --------------------------------------------------------

    def accepted(self, transport: Any) -> None:
        self.down = transport
        self.outbound.source = transport
        self.inbound.attach(transport)
        self.board.register(self)
        if self.dialler_id is not None:
            self._identified()
            return
        self.scan = bytearray()
        policy = self.proxy.unidentified
        if policy == "allow":
            self._connect()
        else:
            self.inbound.held = True
            if policy == "reject":
                self.timeout = self.loop.call_later(IDENTIFY_TIMEOUT_S, self.reset)

    def _identified(self) -> None:
        if self.timeout is not None:
            self.timeout.cancel()
            self.timeout = None
        self.scan = None
        self.outbound.flow, self.inbound.flow = self.flows
        self.inbound.held = False
        self.board.index(self)
        if self.board.rejects(self) or not self.board.may_dial(self):
            self.reset()
            return
        self._connect()
        self.changed()

    def _connect(self) -> None:
        if self.connecting or self.closed:
            return
        self.connecting = True
        self.loop.create_task(self._open_upstream())

    async def _open_upstream(self) -> None:
        host, port = self.proxy.upstream
        try:
            transport, _ = await self.loop.create_connection(
                lambda: Side(self, dialler=False), host, port
            )
        except OSError:
            self.reset()  # the upstream refused: the dialler sees a reset, as it would directly
            return
        if self.closed:
            transport.abort()
            return
        self.up = transport
        self.inbound.source = transport
        self.outbound.attach(transport)

    def changed(self, reset_gaps: bool = False) -> None:
        """The faults on one of our flows changed.

        ``reset_gaps``: a connection that lost bytes and is open again is reset
        -- what TCP would do (time out) rather than resume with a hole.
        """
        if reset_gaps and (self.outbound.broken or self.inbound.broken):
            self.reset()
            return
        self.outbound.changed()
        self.inbound.changed()

    # -- events from the sockets ------------------------------------------

    def data(self, from_dialler: bool, data: memoryview) -> bool:
        """A chunk read from one side; True if a transport kept a view of it."""
        if not from_dialler:
            return self.inbound.feed(data)
        if self.scan is not None:
            self._scan(data)
            if self.closed:
                return False
        return self.outbound.feed(data)

    def _scan(self, data: memoryview) -> None:
        assert self.scan is not None
        self.scan += data
        try:
            dialler = (
                self.proxy.identifier.identify(bytes(self.scan), self.board.address_book)
                if self.proxy.identifier
                else None
            )
        except Misnamed as e:
            # The rule is wrong, not the dialler: say so now, not after a health timeout.
            self.board.misnamed(f"ingress {self.proxy.dst}: {e}")
            self.reset()
            return
        if dialler is not None:
            self.dialler_id = dialler
            self._identified()
        elif len(self.scan) > SCAN_LIMIT:
            if self.proxy.unidentified == "reject":
                self.reset()
            else:
                self.scan = None  # allow: go on unidentified; hold: stays held

    def eof(self, from_dialler: bool) -> None:
        (self.outbound if from_dialler else self.inbound).source_closed()

    def lost(self, dialler_side: bool) -> None:
        if dialler_side:
            self.down_lost = True
            self.inbound.discard()
            self.outbound.source_closed()
        else:
            self.up_lost = True
            self.outbound.discard()
            self.inbound.source_closed()
        if (self.down_lost or self.down is None) and (self.up_lost or self.up is None):
            self._gone()

    def _finished(self, direction: Direction) -> None:
        """A direction passed its sender's close on."""
        source_lost = self.down_lost if direction is self.outbound else self.up_lost
        out = direction.out
        if out is None or out.is_closing():
            return
        if source_lost or not out.can_write_eof():
            out.close()
        else:
            out.write_eof()
        if self.outbound.finished and self.inbound.finished:
            self.close()

    # -- endings ----------------------------------------------------------

    def close(self) -> None:
        """Close both sockets gracefully."""
        for t in (self.down, self.up):
            if t is not None and not t.is_closing():
                t.close()
        self._gone()

    def reset(self) -> None:
        """Reset both sockets (RST), dropping whatever was queued."""
        self.outbound.discard()
        self.inbound.discard()
        reset_transport(self.down)
        reset_transport(self.up)
        self._gone()

    def _gone(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.timeout is not None:
            self.timeout.cancel()
        self.outbound.discard()
        self.inbound.discard()
        self.board.unregister(self)
