"""One direction of a proxied connection: the bytes one endpoint sends the other.

Faults are looked up on every chunk, so a change made by the control side
acts on connections that are already open. Healthy traffic takes a fast
path straight to the other socket; a faulty flow goes through a small queue
of (due time, bytes) that keeps the byte order whatever the delays.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from typing import Any

from distlab.net.faults import Flow, FlowFaults

# Bytes we queue before we stop reading the sender; the kernel buffers then
# fill and the sender feels back-pressure, as over a slow real link.
HIGH_WATER = 1 << 20
LOW_WATER = HIGH_WATER // 2
# TCP's minimum retransmission timeout on Linux: what a lost segment costs.
RETRANSMIT_S = 0.2


class Direction:
    """Carries bytes from a source transport to an output transport under the faults of ``flow``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        lookup: Callable[[Flow], FlowFaults | None],
        rng: random.Random,
    ) -> None:
        self.loop = loop
        self.lookup = lookup
        self.rng = rng
        self.flow: Flow | None = None  # None until the dialler is known (ingress)
        self.source: Any = None  # transport we read from
        self.out: Any = None  # transport we write to
        self.held = False  # output not allowed yet (an unidentified ingress connection)
        self.queue: deque[tuple[float, bytes]] = deque()
        self.queued = 0
        self.last_due = 0.0
        self.bandwidth_free_at = 0.0
        self.timer: asyncio.Handle | None = None
        self.out_paused = False
        self.source_paused = False
        self.source_done = False  # the sender closed or half-closed
        self.finished = False  # we passed the close on
        self.dead = False  # the connection is going away: ignore everything
        self.gap = False  # bytes vanished here: the stream has a hole in it
        self.on_finish: Callable[[], None] = lambda: None

    # -- input ------------------------------------------------------------

    def faults(self) -> FlowFaults | None:
        return self.lookup(self.flow) if self.flow is not None else None

    @property
    def ready(self) -> bool:
        return self.out is not None and not self.held

    def feed(self, data: memoryview) -> bool:
        """Bytes read from the source (a view of the shared read buffer).

        Returns True when the output transport kept a reference to ``data``
        (it could not send it all at once), so the buffer must not be reused.
        """
        if self.dead:
            return False
        faults = self.faults()
        if faults is None and not self.queue and self.ready:
            self.out.write(data)
            return bool(self.out.get_write_buffer_size())
        if faults is not None and faults.block:
            self.gap = True
            return False  # blackhole: the bytes vanish
        now = self.loop.time()
        due = now
        if faults is not None:
            if faults.latency_ms or faults.jitter_ms:
                delay = faults.latency_ms + self.rng.uniform(-faults.jitter_ms, faults.jitter_ms)
                due += max(0.0, delay) / 1000.0
            if faults.loss and self.rng.random() < faults.loss:
                due += RETRANSMIT_S
            if faults.kbit_s:
                start = max(now, self.bandwidth_free_at)
                self.bandwidth_free_at = start + len(data) * 8 / (faults.kbit_s * 1000.0)
                due = max(due, self.bandwidth_free_at)
        due = max(due, self.last_due)  # a stream never reorders
        self.last_due = due
        self.queue.append((due, bytes(data)))
        self.queued += len(data)
        self._update_source()
        self._schedule()
        return False

    def source_closed(self) -> None:
        """The sender closed its side; pass it on once the queued bytes are out."""
        self.source_done = True
        self._maybe_finish()

    # -- output -----------------------------------------------------------

    def attach(self, out: Any) -> None:
        """The output transport exists now (the upstream connect finished)."""
        self.out = out
        self.changed()

    def set_out_paused(self, paused: bool) -> None:
        """The output transport's buffer went over/under its limit."""
        self.out_paused = paused
        self._update_source()

    def changed(self) -> None:
        """Faults, flow or hold changed: re-plan delivery."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        faults = self.faults()
        if faults is not None and faults.block:
            self.gap = self.gap or bool(self.queue)
            self.queue.clear()
            self.queued = 0
        self._update_source()
        self._pump()

    @property
    def broken(self) -> bool:
        """Bytes vanished and the flow is open again: TCP would never deliver a
        stream with a hole, so the connection must end instead."""
        faults = self.faults()
        return self.gap and (faults is None or faults.block is None)

    def _schedule(self) -> None:
        if self.timer is not None or not self.queue or not self.ready:
            return
        faults = self.faults()
        if faults is not None and faults.stall:
            return
        due = self.queue[0][0]
        if due <= self.loop.time():
            self.timer = self.loop.call_soon(self._pump)
        else:
            self.timer = self.loop.call_at(due, self._pump)

    def _pump(self) -> None:
        self.timer = None
        if self.dead:
            return
        faults = self.faults()
        if faults is not None and (faults.block or faults.stall):
            return
        if not self.ready:
            return
        now = self.loop.time()
        while self.queue and self.queue[0][0] <= now:
            _, data = self.queue.popleft()
            self.queued -= len(data)
            self.out.write(data)
        self._update_source()
        self._schedule()
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self.dead or not self.source_done or self.finished or self.queue or not self.ready:
            return
        faults = self.faults()
        if faults is not None and faults.block:
            return  # a FIN vanishes like the bytes; passed on if healed
        self.finished = True
        self.on_finish()

    def _update_source(self) -> None:
        if self.source is None or self.source_done:
            return
        faults = self.faults()
        blocked = faults is not None and faults.block is not None
        want_paused = not blocked and (
            self.out_paused or self.queued > (LOW_WATER if self.source_paused else HIGH_WATER)
        )
        if want_paused and not self.source_paused:
            self.source.pause_reading()
            self.source_paused = True
        elif not want_paused and self.source_paused:
            self.source.resume_reading()
            self.source_paused = False

    def discard(self) -> None:
        """Drop everything: the connection (or this direction's output) is going away."""
        self.dead = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()
        self.queued = 0
