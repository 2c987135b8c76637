"""The cluster's watcher thread: notices crashes and samples psutil figures.

Exits are polled every ``POLL_S`` (cheap: one ``waitpid(WNOHANG)`` per
node) so a crash shows up as a ``node.state`` event within ~0.1 s; psutil
figures are sampled every ``SAMPLE_S`` and emitted as ``node.sample``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from distlab import events
from distlab.cluster.node import Node, NodeState, sample

POLL_S = 0.1
SAMPLE_S = 1.0


class Monitor:
    """Polls a fixed set of nodes until ``close``."""

    def __init__(
        self,
        nodes: list[Node],
        cluster: str,
        sample_s: float = SAMPLE_S,
        on_sample: Callable[[], Any] | None = None,
    ) -> None:
        self._nodes = nodes
        self._on_sample = on_sample  # more to watch once a round (the network's errors)
        self._cluster = cluster
        self._sample_s = sample_s
        self._stop = threading.Event()
        self._procs: dict[str, psutil.Process] = {}
        self._latest: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._run, name=f"distlab-monitor-{cluster}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def latest(self) -> dict[str, dict[str, Any]]:
        """The last figures per node id (a copy)."""
        with self._lock:
            return {k: dict(v) for k, v in self._latest.items()}

    def sample_now(self) -> None:
        """Take one round of samples (the thread does this every ``sample_s``)."""
        for node in self._nodes:
            figures = self._sample(node)
            if figures is None:
                continue
            with self._lock:
                self._latest[node.id] = figures
            events.emit(events.NodeSample(node=node.id, cluster=self._cluster, **figures))

    def _sample(self, node: Node) -> dict[str, Any] | None:
        pid = node.pid
        if pid is None or node.state not in (NodeState.UP, NodeState.PAUSED, NodeState.STARTING):
            self._procs.pop(node.id, None)
            return None
        p = self._procs.get(node.id)
        if p is None or p.pid != pid:
            try:
                p = psutil.Process(pid)
            except psutil.Error:
                return None
            self._procs[node.id] = p
        figures = sample(p)
        if figures is None:
            return None
        return {"pid": pid, "state": str(node.state), **figures}

    def _run(self) -> None:
        next_sample = time.monotonic()
        while not self._stop.wait(POLL_S):
            for node in self._nodes:
                _quietly(node.poll)
            if time.monotonic() >= next_sample:
                next_sample = time.monotonic() + self._sample_s
                _quietly(self.sample_now)
                if self._on_sample is not None:
                    _quietly(self._on_sample)


def _quietly(fn: Callable[[], Any]) -> None:
    # The monitor must outlive any one odd node (a pid gone between two calls).
    try:
        fn()
    except Exception:  # a sampling hiccup must not stop crash detection
        pass
