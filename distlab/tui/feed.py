"""Where events wait between their producer's thread and the UI thread.

Producers (a runner callback, a file reader, a tail of a lab session) call
``push`` from any thread; the app drains the buffer on a ~0.1 s interval and
applies the whole batch in one ``batch_update``. ``push`` wakes the app with
one replaceable ``EventsPending`` message, so a burst of 10,000 events costs
one message, not 10,000.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from distlab.events import Event, EventDecodeError, Log, ReadStats, decode_line, read_events

Wake = Callable[[], None]


class EventFeed:
    """A thread-safe FIFO of events with a wake-up callback."""

    def __init__(self) -> None:
        self._buffer: deque[Event] = deque()
        self._lock = threading.Lock()
        self._wake: Wake | None = None
        self._woken = False
        self.pushed = 0

    def connect(self, wake: Wake) -> None:
        """Call ``wake`` (once per drain) when events arrive."""
        self._wake = wake

    def push(self, event: Event) -> None:
        """Add one event (any thread)."""
        with self._lock:
            self._buffer.append(event)
            self.pushed += 1
            wake = not self._woken and self._wake is not None
            self._woken = True
        if wake and self._wake is not None:
            self._wake()

    def drain(self, limit: int = 100_000) -> list[Event]:
        """Take up to ``limit`` waiting events, oldest first."""
        with self._lock:
            n = min(limit, len(self._buffer))
            batch = [self._buffer.popleft() for _ in range(n)]
            self._woken = bool(self._buffer)
        return batch

    def __len__(self) -> int:
        return len(self._buffer)


class FileReader:
    """Reads an events.jsonl into a feed from a daemon thread.

    ``speed`` None pushes everything at once (a replay shows the end state);
    a number replays at that many times the recorded pace. ``follow`` keeps
    reading what a live writer appends (lab mode) until ``stop``.
    """

    def __init__(
        self, path: Path, feed: EventFeed, *, speed: float | None = None, follow: bool = False
    ) -> None:
        self.path = path
        self.feed = feed
        self.speed = speed
        self.follow = follow
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="distlab-tui-reader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        try:
            if self.follow:
                self._tail()
            else:
                self._replay()
        finally:
            self.done.set()

    def _replay(self) -> None:
        last: float | None = None
        stats = ReadStats()
        for event in read_events(self.path, stats):
            if self._stop.is_set():
                return
            ts = event.ts
            if self.speed:
                # Pace by the recorded clock; waiting on the stop flag keeps quit instant.
                if last is not None and ts > last and self._stop.wait((ts - last) / self.speed):
                    return
                last = ts
            self.feed.push(event)
        if stats.skipped:
            # Say so rather than show a run with holes in it as if it were whole.
            self.feed.push(
                Log(
                    ts=last or 0.0,
                    level="warning",
                    source="replay",
                    message=f"{stats.skipped} event line(s) could not be read; "
                    f"first: {stats.first_problem}",
                )
            )

    def _tail(self) -> None:
        while not self.path.exists():
            if self._stop.wait(0.05):
                return
        with open(self.path, encoding="utf-8") as f:
            pending = ""
            while not self._stop.is_set():
                chunk = f.readline()
                if not chunk:
                    self._stop.wait(0.05)
                    continue
                pending += chunk
                if not pending.endswith("\n"):
                    continue  # a line still being written
                line, pending = pending.strip(), ""
                try:
                    self.feed.push(decode_line(line))
                except EventDecodeError:
                    continue
