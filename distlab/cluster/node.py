"""One node process: start, health, kill / stop / pause / resume / restart.

A node's state is one of ``starting | up | down | paused | crashed``:
``down`` means distlab stopped it on purpose, ``crashed`` that it exited on
its own (with ``exit_code`` or ``signal`` set). Every change is a
``node.state`` event. All transitions hold the node's lock, so the cluster's
monitor thread and a test (or a nemesis thread) can act on one node at once.
"""

from __future__ import annotations

import enum
import os
import signal as signals
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from distlab import events, proc
from distlab.cluster import health
from distlab.errors import LabError

if TYPE_CHECKING:
    from distlab.hosts.lab import RemoteNode

LOG_TAIL_LINES = 3
PAUSE_CONFIRM_S = 2.0


class NodeState(enum.StrEnum):
    STARTING = "starting"
    UP = "up"
    DOWN = "down"
    PAUSED = "paused"
    CRASHED = "crashed"


@dataclass(frozen=True)
class NodeSpec:
    """Everything needed to (re)start one node; fixed for the node's life."""

    id: str
    index: int
    argv: Sequence[str]
    env: dict[str, str]
    cwd: str
    port: int  # what clients dial: the client proxy, or the node itself
    direct_port: int  # what the node listens on for clients ({port})
    peer_port: int  # what the node listens on for peers ({peer_port})
    advertise_port: int  # what peers dial to reach it in ingress wiring ({advertise_port})
    data_dir: Path
    log_path: Path
    run_dir: Path
    health_check: str = "tcp"
    health_path: str = "/health"
    health_body: str = ""
    health_argv: Sequence[str] = ()
    start_timeout_s: float = 10.0
    stop_grace_s: float = 3.0
    cluster: str = ""
    group: str = ""
    # netns mode: the node runs under ``launcher`` (nsenter into its namespace),
    # listens at ``host`` and is probed from inside namespace ``probe_ns``.
    launcher: Sequence[str] = ()
    host: str = "127.0.0.1"
    probe_ns: str = ""
    # SSH hosts: the node runs on another machine; starts and signals go through this.
    remote: RemoteNode | None = None


class Node:
    """A node process owned by a ``Cluster`` (see ``NodeSpec`` for its addresses)."""

    def __init__(self, spec: NodeSpec) -> None:
        self.spec = spec
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._state = NodeState.DOWN
        self._log_offset = 0
        self._starts = 0
        self.exit_code: int | None = None
        self.signal: str | None = None

    # Addresses, as the agreed interface names them.
    id = property(lambda self: self.spec.id)
    port = property(lambda self: self.spec.port)
    direct_port = property(lambda self: self.spec.direct_port)
    peer_port = property(lambda self: self.spec.peer_port)
    advertise_port = property(lambda self: self.spec.advertise_port)
    log_path = property(lambda self: self.spec.log_path)

    @property
    def data_dir(self) -> Path:
        """Where the node keeps its data; the same across restarts."""
        return self.spec.data_dir

    @property
    def state(self) -> NodeState:
        return self._state

    @property
    def pid(self) -> int | None:
        """The pid of the running process, None when it is down or crashed."""
        p = self._proc
        return p.pid if p is not None else None

    def __repr__(self) -> str:
        return f"<Node {self.id} {self._state} pid={self.pid} port={self.port}>"

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Launch the process (state ``starting``); ``wait_healthy`` makes it ``up``."""
        with self._lock:
            if self._proc is not None:
                raise LabError(f"node {self.id} is {self._state}; stop it before starting it")
            if self.spec.remote is None:  # a remote data dir is made on its host
                self.spec.data_dir.mkdir(parents=True, exist_ok=True)
            argv = [*self.spec.launcher, *self.spec.argv]
            if self.spec.remote is not None:
                argv = self.spec.remote.argv(self.spec.argv)
            self._starts += 1
            with open(self.spec.log_path, "ab") as log:
                log.write(
                    f"=== distlab: {self.id} start #{self._starts} at "
                    f"{time.strftime('%H:%M:%S')}: {' '.join(self.spec.argv)}\n".encode()
                )
                log.flush()
                self._log_offset = log.tell()
                try:
                    self._proc = proc.spawn(
                        argv,
                        run_dir=self.spec.run_dir,
                        env=self.spec.env,
                        cwd=self.spec.cwd,
                        stdout=log,
                        label=f"node:{self.id}",
                    )
                except OSError as e:
                    raise LabError(
                        f"node {self.id}: cannot run {self.spec.argv[0]!r}: "
                        f"{e.strerror or e}; check [cluster] command"
                    ) from None
            self.exit_code = self.signal = None
            self._set_state(NodeState.STARTING)

    def check_health(self) -> bool:
        """One step of waiting for health: True once up; LabError if it exited."""
        with self._lock:
            if self._state is NodeState.UP:
                return True
            if self._proc is None:
                raise LabError(f"node {self.id} is {self._state}; it was not started")
            if self._proc.poll() is not None:
                self._reap(self._proc.returncode, expected=False)
                raise LabError(
                    f"node {self.id} exited {self._how_it_ended()} before it was healthy; "
                    f"last log lines: {self.log_tail()}; log: {self.spec.log_path}"
                )
            proc_ = self._proc
        if not self._probe():
            return False
        # psutil sees only this machine's and this namespace's sockets.
        own_ns = not self.spec.probe_ns and self.spec.remote is None
        if own_ns and self.spec.health_check in ("tcp", "http") and not self._owns_port(proc_.pid):
            tail = self.log_tail()
            self.kill()
            raise LabError(
                f"port {self.direct_port} on 127.0.0.1 is taken by another process, so node "
                f"{self.id} cannot listen on it; last log lines: {tail}; log: {self.spec.log_path}"
            )
        with self._lock:
            if self._proc is proc_ and self._state is NodeState.STARTING:
                self._set_state(NodeState.UP)
            return self._state is NodeState.UP

    def wait_healthy(self, timeout: float | None = None) -> None:
        """Wait until the health probe passes; kill the node and raise LabError if not."""
        limit = self.spec.start_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + limit
        delay = 0.005
        while True:
            if self.check_health():
                return
            if time.monotonic() >= deadline:
                self.fail_start(limit)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def fail_start(self, waited_s: float) -> None:
        """Give up on a node that did not become healthy: kill it, raise LabError."""
        tail = self.log_tail()
        self.kill()
        probe = health.describe(
            self.spec.health_check, self.direct_port, self.spec.health_path, self.spec.health_body
        )
        raise LabError(
            f"node {self.id} was not healthy after {waited_s:g} s ({probe}); "
            f"last log lines: {tail}; log: {self.spec.log_path}"
        )

    def kill(self) -> None:
        """SIGKILL the node's process group (state ``down``)."""
        with self._lock:
            if self._proc is None:
                return
            if self.spec.remote is not None:
                self.spec.remote.signal("KILL")  # the ssh client's death would not reach it
            proc.kill_group(self._proc, signals.SIGKILL)
            self._reap(self._proc.wait(), expected=True)

    def stop(self, grace_s: float | None = None) -> None:
        """SIGTERM, then SIGKILL after ``grace_s`` (default ``[cluster] stop_grace_s``)."""
        grace = self.spec.stop_grace_s if grace_s is None else grace_s
        with self._lock:
            if self._proc is None:
                return
            if self.spec.remote is not None:
                self._stop_remote(grace)
            self._reap(proc.stop_group(self._proc, grace), expected=True)

    def pause(self) -> None:
        """SIGSTOP the node's group (state ``paused``); returns once the kernel stopped it."""
        with self._lock:
            self._require_running("pause")
            assert self._proc is not None
            if self.spec.remote is not None:
                self.spec.remote.signal("STOP")  # kill(2) returns once it is stopped
            else:
                proc.kill_group(self._proc, signals.SIGSTOP)
                self._wait_status(psutil.STATUS_STOPPED)
            self._set_state(NodeState.PAUSED)

    def resume(self) -> None:
        """SIGCONT a paused node (state ``up``)."""
        with self._lock:
            if self._state is not NodeState.PAUSED or self._proc is None:
                raise LabError(f"node {self.id} is {self._state}; only a paused node can resume")
            if self.spec.remote is not None:
                self.spec.remote.signal("CONT")
            else:
                proc.kill_group(self._proc, signals.SIGCONT)
            self._set_state(NodeState.UP)

    def restart(self, timeout: float | None = None, grace_s: float | None = None) -> None:
        """Stop (if running) and start again with the same id, ports and data dir."""
        self.stop(grace_s)
        self.start()
        self.wait_healthy(timeout)

    # -- observation ---------------------------------------------------------------

    def poll(self) -> NodeState:
        """Notice an exit nobody asked for (state ``crashed``); the monitor calls this."""
        # Someone is acting on this node (a stop may wait out its grace): look next round
        # rather than hold up the monitor's watch over the other nodes.
        if not self._lock.acquire(blocking=False):
            return self._state
        try:
            if self._proc is not None and self._proc.poll() is not None:
                self._reap(self._proc.returncode, expected=False)
            return self._state
        finally:
            self._lock.release()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines this start wrote, joined by ' | ' for a one-line message."""
        try:
            with open(self.spec.log_path, "rb") as f:
                f.seek(self._log_offset)
                text = f.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
        shown = " | ".join(kept) or "(log is empty)"
        return shown if len(shown) <= 400 else "..." + shown[-397:]

    # -- internals -----------------------------------------------------------------

    def _probe(self) -> bool:
        kind = self.spec.health_check
        host, ns = self.spec.host, self.spec.probe_ns
        if kind == "tcp":
            return health.tcp_ok(self.direct_port, host=host, ns=ns)
        if kind == "http":
            return health.http_ok(
                self.direct_port, self.spec.health_path, self.spec.health_body, host=host, ns=ns
            )
        if kind == "command":
            return health.command_ok(self.spec.health_argv)
        return True  # "none": up as soon as it runs

    def _owns_port(self, pid: int) -> bool:
        try:
            leader = psutil.Process(pid)
            pids = [pid, *(c.pid for c in leader.children(recursive=True))]
        except psutil.Error:
            return True  # it exited: the next check reports that, with its exit code
        return health.listener_is_ours(self.direct_port, pids) is not False

    def _stop_remote(self, grace: float) -> None:
        """SIGTERM on the host; SIGKILL there if the node outlives ``grace``."""
        assert self._proc is not None and self.spec.remote is not None
        self.spec.remote.signal("TERM")
        self.spec.remote.signal("CONT")
        try:
            self._proc.wait(timeout=grace)  # ssh returns when the node exits
        except subprocess.TimeoutExpired:
            self.spec.remote.signal("KILL")

    def _require_running(self, action: str) -> None:
        if self._proc is None or self._state not in (NodeState.UP, NodeState.STARTING):
            raise LabError(f"node {self.id} is {self._state}; only a running node can {action}")

    def _wait_status(self, status: str) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + PAUSE_CONFIRM_S
        try:
            p = psutil.Process(self._proc.pid)
            while p.status() != status and time.monotonic() < deadline:
                time.sleep(0.001)
        except psutil.Error:
            pass  # it died; the monitor will say so

    def _reap(self, returncode: int, *, expected: bool) -> None:
        assert self._proc is not None
        proc.kill_group(self._proc, signals.SIGKILL)  # whatever the leader left behind
        proc.release(self._proc)
        self._proc = None
        if returncode < 0:
            self.exit_code, self.signal = None, signals.Signals(-returncode).name
        else:
            self.exit_code, self.signal = returncode, None
        self._set_state(NodeState.DOWN if expected else NodeState.CRASHED)

    def _how_it_ended(self) -> str:
        return f"on {self.signal}" if self.signal else f"with code {self.exit_code}"

    def _set_state(self, state: NodeState) -> None:
        self._state = state
        events.emit(
            events.NodeStateChanged(
                node=self.id,
                state=str(state),
                pid=self.pid,
                exit_code=self.exit_code,
                signal=self.signal,
                port=self.port,
                cluster=self.spec.cluster,
                log=str(self.spec.log_path),
            )
        )


def sample(p: psutil.Process) -> dict[str, float | int] | None:
    """psutil figures of one node process, or None if it is gone."""
    try:
        with p.oneshot():
            return {
                "cpu_percent": p.cpu_percent(None),
                "rss_bytes": p.memory_info().rss,
                "fds": p.num_fds() if hasattr(p, "num_fds") else 0,
                "threads": p.num_threads(),
            }
    except psutil.Error:
        return None


def environment(base: dict[str, str] | None, *extra: dict[str, str]) -> dict[str, str]:
    """A node's environment: ours, then the config's ``env``, then the caller's."""
    env = dict(os.environ if base is None else base)
    for more in extra:
        env.update(more)
    return env
