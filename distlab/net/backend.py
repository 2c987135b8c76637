"""The seam between ``Network`` (validation, shapes, events) and whatever
injects the faults. The userspace proxy is the only backend today; a
network-namespace backend (an address per node, iptables for partitions, tc
netem for latency) would implement the same small protocol.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from distlab.errors import LabError, UsageError
from distlab.net import ops
from distlab.net.faults import Flow, FlowFaults
from distlab.proc import kill_group, make_temp_dir, release_dir, spawn

START_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 15.0


class Backend(Protocol):
    """What a fault-injection backend must do. Flows are ``(src, dst)`` endpoint ids."""

    name: str

    def add_link(self, src: str, dst: str, upstream: tuple[str, int]) -> int:
        """Make ``dst`` (listening at ``upstream``) reachable for ``src``; return the port to dial."""
        ...

    def add_ingress(
        self, dst: str, upstream: tuple[str, int], identify: str, unidentified: str
    ) -> int:
        """One entry point for every dialler of ``dst``; diallers are told apart by ``identify``."""
        ...

    def apply(self, changes: dict[Flow, FlowFaults], reset_gaps: bool = False) -> None:
        """Set the faults of each flow (healthy = clear), acting on live connections;
        ``reset_gaps``: reset connections that lost bytes and are open again."""
        ...

    def set_topology(self, links: list[Flow] | None) -> None:
        """Only these (dialler, node) links exist (ingress mode); heal never changes this."""
        ...

    def reset(self, flows: list[Flow]) -> int:
        """Reset the live connections that carry any of ``flows``; return how many."""
        ...

    def describe(self) -> list[dict[str, Any]]:
        """One dict per entry point (kind, src, dst, port, upstream, connections)."""
        ...

    def set_address_book(self, book: dict[str, str]) -> None:
        """Every address a node is known by -> its id (ingress rules by port or address)."""
        ...

    def identify_errors(self) -> list[str]:
        """One line per ingress rule that named something that is not a node, first first."""
        ...

    def close(self) -> None:
        """Tear everything down; idempotent."""
        ...


class ProxyBackend:
    """Userspace TCP proxies, run by a proxy server process or a thread (``in_process``)."""

    name = "proxy"

    def __init__(self, run_dir: Path, *, in_process: bool = False, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._threaded: Any = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self._sock_dir: str | None = None
        if in_process:
            from distlab.net.server import ThreadedServer

            self._threaded = ThreadedServer(seed)
        else:
            self._start_process(Path(run_dir), seed)

    # -- the server process -----------------------------------------------

    def _start_process(self, run_dir: Path, seed: int) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        control = run_dir / "net.sock"
        if len(str(control)) > 100:  # Unix socket paths are limited to 108 bytes
            self._sock_dir = str(make_temp_dir("distlab-net-"))
            control = Path(self._sock_dir) / "net.sock"
        with contextlib.suppress(FileNotFoundError):
            control.unlink()
        self.log_path = run_dir / "net-proxy.log"
        argv = [sys.executable, "-m", "distlab.net.server", "--control", str(control)]
        try:
            # proc.spawn forks on a thread that outlives the caller's, so a Network
            # started from a short-lived worker thread keeps its proxies.
            with open(self.log_path, "ab") as log:
                self._proc = spawn(
                    [*argv, "--seed", str(seed)],
                    run_dir=run_dir,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    label="net-proxy",
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
        except OSError as e:
            raise LabError(f"cannot start the network proxy server: {e}") from None
        try:
            self._wait_ready()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(control))
        except BaseException:
            self._kill()
            raise
        self._sock = sock
        self._reader = sock.makefile("rb")

    def _wait_ready(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    line = self._proc.stdout.readline()
                    if line.strip() == b"ready":
                        self._proc.stdout.close()
                        return
                    if not line:
                        break  # it died
        tail = ""
        with contextlib.suppress(OSError):
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-1]
        raise LabError(
            f"the network proxy server did not start: {tail or 'no output'} (log: {self.log_path})"
        )

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            kill_group(self._proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)

    # -- requests ---------------------------------------------------------

    def request(self, op: ops.Op) -> Any:
        """Send one control request and return its result, raising its error here."""
        req = ops.encode(op)
        with self._lock:
            if self._closed:
                raise LabError("the network is closed")
            threaded = self._threaded
            reply = threaded.request(req) if threaded is not None else self._remote(req)
        if not reply.get("ok"):
            error = reply.get("error", "unknown error")
            if reply.get("type") == "UsageError":
                raise UsageError(error)
            raise LabError(f"network proxy: {error}")
        return reply.get("result")

    def _remote(self, req: ops.Wire) -> dict[str, Any]:
        assert self._sock is not None
        try:
            self._sock.settimeout(REQUEST_TIMEOUT_S)
            self._sock.sendall(json.dumps(req).encode() + b"\n")
            line = self._reader.readline()
        except OSError as e:
            raise LabError(f"the network proxy server stopped answering: {e}") from None
        if not line:
            raise LabError("the network proxy server exited; see net-proxy.log in the run dir")
        return json.loads(line)

    # -- the Backend protocol ---------------------------------------------

    def add_link(self, src: str, dst: str, upstream: tuple[str, int]) -> int:
        return int(self.request(ops.AddLink(src, dst, upstream)))

    def add_ingress(
        self, dst: str, upstream: tuple[str, int], identify: str, unidentified: str
    ) -> int:
        return int(self.request(ops.AddIngress(dst, upstream, identify, unidentified)))

    def apply(self, changes: dict[Flow, FlowFaults], reset_gaps: bool = False) -> None:
        if changes:
            self.request(ops.SetFaults(tuple(changes.items()), reset_gaps))

    def set_topology(self, links: list[Flow] | None) -> None:
        self.request(ops.SetTopology(None if links is None else tuple(links)))

    def reset(self, flows: list[Flow]) -> int:
        return int(self.request(ops.Reset(tuple(flows))))

    def set_address_book(self, book: dict[str, str]) -> None:
        self.request(ops.SetAddressBook(tuple(sorted(book.items()))))

    def identify_errors(self) -> list[str]:
        return list(self.request(ops.State())["identify_errors"])

    def describe(self) -> list[dict[str, Any]]:
        return list(self.request(ops.State())["proxies"])

    @property
    def pid(self) -> int | None:
        """The proxy server's pid (None in-process)."""
        return self._proc.pid if self._proc is not None else None

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._threaded is not None:
            self._threaded.close()
            return
        try:
            if self._sock is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._remote(ops.encode(ops.Close()))
                self._sock.close()
            if self._proc is not None:
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._kill()
        finally:
            self._kill()
            if self._sock_dir is not None:
                with contextlib.suppress(OSError):
                    for p in Path(self._sock_dir).iterdir():
                        p.unlink()
                    os.rmdir(self._sock_dir)
                release_dir(self._sock_dir)
