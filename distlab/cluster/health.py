"""Health probes: is a node ready to serve? (``[cluster] health_check``)

Probes go to the node's own port, never through a proxy: a proxy accepts
connections even when the node behind it is down.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
from collections.abc import Sequence

from distlab import proc
from distlab.cluster.ports import HOST

PROBE_TIMEOUT_S = 0.5


def tcp_ok(port: int, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """A TCP connect to ``127.0.0.1:port`` succeeds."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def http_ok(port: int, path: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """``GET path`` on ``127.0.0.1:port`` answers 2xx."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        return 200 <= conn.getresponse().status < 300
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def command_ok(argv: Sequence[str], timeout_s: float = 5.0) -> bool:
    """The health command exits 0 within ``timeout_s`` (it is killed otherwise)."""
    try:
        child = proc.spawn(argv, label="health-check")
    except OSError:
        return False
    try:
        return child.wait(timeout=timeout_s) == 0
    except subprocess.TimeoutExpired:
        return False
    finally:
        proc.kill_group(child)
        child.wait()
        proc.release(child)


def describe(kind: str, port: int, path: str) -> str:
    """How a probe is shown in messages: 'tcp 127.0.0.1:4001'."""
    if kind == "tcp":
        return f"tcp connect to {HOST}:{port}"
    if kind == "http":
        return f"GET http://{HOST}:{port}{path}"
    return f"{kind} probe"
