"""The live event stream: JSON lines, one object per line, each with ``v``,
``ts`` and ``kind`` (DESIGN.md, "Events"; field lists in docs/events.md).

Producers (the pytest plugin, the cluster, the nemesis, workloads) call
``emit``; where the events go is decided by ``DISTLAB_EVENTS``:

- ``unix:/path/to.sock`` -- a listening Unix socket (the runner's live feed);
- ``file:/path/events.jsonl`` or a bare path -- appended to a file;
- unset -- events are dropped (a plain ``pytest`` run outside distlab).

Writes are line-buffered per event and serialised by a lock, so events from
several threads never interleave inside a line.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

SCHEMA_VERSION = 1
EVENTS_ENV = "DISTLAB_EVENTS"

# Event kinds. Keep docs/events.md in step with this list.
RUN_START = "run.start"
RUN_END = "run.end"
LAYER_START = "layer.start"
LAYER_END = "layer.end"
COLLECT = "collect"
TEST_START = "test.start"
TEST_END = "test.end"
METRIC = "metric"
NODE_STATE = "node.state"
NODE_SAMPLE = "node.sample"
NODE_ROLE = "node.role"
LINK_STATE = "link.state"
PARTITION = "partition"
FAULT_START = "fault.start"
FAULT_END = "fault.end"
WORKLOAD_SAMPLE = "workload.sample"
CHECK_VERDICT = "check.verdict"
GATE = "gate"
LOG = "log"


def make_event(kind: str, **fields: Any) -> dict[str, Any]:
    """Build one event object with the schema version and a wall-clock timestamp."""
    event: dict[str, Any] = {"v": SCHEMA_VERSION, "ts": time.time(), "kind": kind}
    event.update(fields)
    return event


def encode(event: dict[str, Any]) -> bytes:
    """One event as a JSON line (compact, UTF-8, newline-terminated)."""
    return (json.dumps(event, separators=(",", ":"), default=str) + "\n").encode()


class EventSink:
    """Where ``emit`` writes. Thread-safe; never raises into the producer."""

    def __init__(self, target: str | None) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._sock: socket.socket | None = None
        self._broken = False
        if not target:
            return
        if target.startswith("unix:"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(target[len("unix:") :])
            self._sock = sock
        else:
            path = target[len("file:") :] if target.startswith("file:") else target
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the sink

    @property
    def enabled(self) -> bool:
        return (self._file is not None or self._sock is not None) and not self._broken

    def write(self, event: dict[str, Any]) -> None:
        """Write one event; a listener that went away disables the sink quietly."""
        if not self.enabled:
            return
        data = encode(event)
        with self._lock:
            try:
                if self._sock is not None:
                    self._sock.sendall(data)
                elif self._file is not None:
                    self._file.write(data)
            except OSError:
                # The runner died or closed the feed: tests must go on regardless.
                self._broken = True

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            if self._file is not None:
                self._file.close()
                self._file = None


_sink: EventSink | None = None
_sink_lock = threading.Lock()


def sink() -> EventSink:
    """The process-wide sink named by ``DISTLAB_EVENTS`` (opened on first use)."""
    global _sink
    if _sink is None:
        with _sink_lock:
            if _sink is None:
                try:
                    _sink = EventSink(os.environ.get(EVENTS_ENV))
                except OSError:
                    _sink = EventSink(None)
    return _sink


def redirect(target: str | None) -> str | None:
    """Send this process's events to ``target`` from now on (None: nowhere).

    Sets ``DISTLAB_EVENTS`` (so child processes follow) and closes the current
    sink; the next ``emit`` opens the new one. Returns the previous target.
    """
    global _sink
    previous = os.environ.get(EVENTS_ENV)
    if target is None:
        os.environ.pop(EVENTS_ENV, None)
    else:
        os.environ[EVENTS_ENV] = target
    with _sink_lock:
        if _sink is not None and _sink.target != target:
            _sink.close()
            _sink = None
    return previous


def emit(kind: str, **fields: Any) -> dict[str, Any]:
    """Emit one event to the process-wide sink and return it."""
    event = make_event(kind, **fields)
    sink().write(event)
    return event


def read_events(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Read an ``events.jsonl`` file; a torn last line (a killed writer) is skipped."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and "kind" in event:
                yield event
