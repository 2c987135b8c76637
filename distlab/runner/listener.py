"""The runner's end of the live event stream.

Each pytest subprocess gets a Unix socket of its own (an *endpoint*), named
to it by ``DISTLAB_EVENTS``. Everything that arrives -- from the plugin and
from anything else in that process tree that calls ``distlab.events.emit``
-- is tagged with the layer, appended to the run's ``events.jsonl`` and
handed to the callback, in that order, under one lock so the file and the
live view see the same sequence. The runner's own events go through
``publish`` into the same stream.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from distlab import proc
from distlab.events import Event, EventDecodeError, LayerEvent, decode_line, encode

EventCallback = Callable[[Event], None]

# How long closing an endpoint waits for writers still draining their sockets.
_DRAIN_S = 5.0


class EventListener:
    """Receives events from pytest subprocesses; writes and forwards each one."""

    def __init__(self, events_file: Path, callback: EventCallback | None = None) -> None:
        # AF_UNIX paths are limited to ~107 bytes, so the sockets live in a
        # short temporary directory rather than in the (deep) run directory.
        # The guardian removes it if the runner is SIGKILLed (issue 14 item 10).
        self._dir = str(proc.make_temp_dir("distlab-ev-"))
        self._out: IO[bytes] = open(events_file, "ab")  # noqa: SIM115 - closed in close()
        self._callback = callback
        self._lock = threading.Lock()
        self._endpoints: dict[str, _Endpoint] = {}
        self._count = 0
        self._numbers = itertools.count()
        self.callback_errors = 0

    def publish(self, event: Event) -> Event:
        """Put one of the runner's own events into the stream."""
        self.deliver(event, encode(event))
        return event

    def deliver(self, event: Event | None, line: bytes) -> None:
        """Append ``line`` to the file and hand ``event`` (if it decoded) to the callback."""
        with self._lock:
            self._out.write(line)
            self._count += 1
            if event is not None and self._callback is not None:
                try:
                    self._callback(event)
                except Exception:
                    # A broken view must not break the run or lose events on disk.
                    self.callback_errors += 1

    @property
    def count(self) -> int:
        """Events written so far."""
        return self._count

    def open_endpoint(self, layer: str) -> str:
        """A fresh socket for one pytest process of ``layer``; returns its address."""
        with self._lock:
            n = next(self._numbers)  # parallel layers open endpoints at once
        path = os.path.join(self._dir, f"{n}.sock")
        endpoint = _Endpoint(path, layer, self)
        with self._lock:
            self._endpoints[path] = endpoint
        return f"unix:{path}"

    def close_endpoint(self, address: str) -> None:
        """Stop accepting on an endpoint and wait (bounded) for its writers to drain."""
        with self._lock:
            endpoint = self._endpoints.pop(address.removeprefix("unix:"), None)
        if endpoint is not None:
            endpoint.close()

    def close(self) -> None:
        for path in list(self._endpoints):
            self.close_endpoint(path)
        with self._lock:
            self._out.close()
        shutil.rmtree(self._dir, ignore_errors=True)
        proc.release_dir(self._dir)


class _Endpoint:
    def __init__(self, path: str, layer: str, listener: EventListener) -> None:
        self.path = path
        self.layer = layer
        self.listener = listener
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(64)
        # accept() wakes up now and then to notice close(): closing a listening
        # socket from another thread does not reliably interrupt accept().
        self.server.settimeout(0.2)
        self.readers: list[threading.Thread] = []
        self.conns: list[socket.socket] = []
        self.closing = False
        self.acceptor = threading.Thread(target=self._accept, name=f"events-{layer}", daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while not self.closing:
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            self._start_reader(conn)

    def _start_reader(self, conn: socket.socket) -> None:
        conn.settimeout(None)
        self.conns.append(conn)
        reader = threading.Thread(target=self._read, args=(conn,), daemon=True)
        self.readers.append(reader)
        reader.start()

    def _read(self, conn: socket.socket) -> None:
        pending = b""
        try:
            while True:
                chunk = conn.recv(1 << 16)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._line(line)
        except OSError:
            pass
        finally:
            conn.close()
        # A writer killed mid-line leaves a torn fragment: dropped, like read_events does.

    def _line(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            event = decode_line(line)
        except EventDecodeError:
            # Not ours to judge: a newer producer's kind, say. The file keeps
            # it as it came; the live view only takes what it can read.
            self.listener.deliver(None, line + b"\n")
            return
        if isinstance(event, LayerEvent) and not event.layer:
            # Producers deep in a test (the cluster, a workload) do not know
            # their layer; the endpoint does.
            event = dataclasses.replace(event, layer=self.layer)
            self.listener.deliver(event, encode(event))
            return
        self.listener.deliver(event, line + b"\n")

    def close(self) -> None:
        self.closing = True
        self.acceptor.join(_DRAIN_S)
        # Connections still in the backlog carry events too: take them all.
        self.server.setblocking(False)
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                break
            self._start_reader(conn)
        self.server.close()
        for reader in list(self.readers):
            reader.join(_DRAIN_S)
        # Writers that outlive their pytest (a stray grandchild) are cut off.
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            os.unlink(self.path)
        except OSError:
            pass
