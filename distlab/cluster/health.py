"""Health probes: is a node ready to serve? (``[cluster] health_check``)

Probes go to the node's own port, never through a proxy: a proxy accepts
connections even when the node behind it is down.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
from collections.abc import Iterable, Sequence

from distlab import proc
from distlab.cluster.ports import HOST

PROBE_TIMEOUT_S = 0.5
BODY_LIMIT = 64 * 1024  # a health answer longer than this is cut before the body match


def tcp_ok(port: int, timeout_s: float = PROBE_TIMEOUT_S, host: str = HOST, ns: str = "") -> bool:
    """A TCP connect to ``127.0.0.1:port`` (``host:port`` from inside netns ``ns``) succeeds."""
    if ns:
        from distlab.net.netns_kernel import tcp_ok_in

        return tcp_ok_in(ns, (host, port), timeout_s)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def http_ok(
    port: int,
    path: str,
    body: str = "",
    timeout_s: float = PROBE_TIMEOUT_S,
    host: str = HOST,
    ns: str = "",
) -> bool:
    """``GET path`` on ``127.0.0.1:port`` answers 2xx (and its body contains ``body``).

    A body match tells "listening" from "ready" for systems whose health
    endpoint answers 200 with a status such as ``{"ready": false}``.
    """
    conn = (
        _NetnsHTTPConnection(ns, host, port, timeout=timeout_s)
        if ns
        else http.client.HTTPConnection(host, port, timeout=timeout_s)
    )
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        if not 200 <= answer.status < 300:
            return False
        return not body or body in answer.read(BODY_LIMIT).decode("utf-8", "replace")
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


def describe(kind: str, port: int, path: str, body: str = "") -> str:
    """How a probe is shown in messages: 'tcp 127.0.0.1:4001'."""
    if kind == "tcp":
        return f"tcp connect to {HOST}:{port}"
    if kind == "http":
        wanted = f" with {body!r} in the body" if body else ""
        return f"GET http://{HOST}:{port}{path}{wanted}"
    return f"{kind} probe"


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on ``port`` (any local address), from /proc/net/tcp{,6}."""
    inodes: set[str] = set()
    found_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        found_table = True
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN; field 9 is the inode.
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    return inodes if found_table else None


def listener_is_ours(port: int, pids: Iterable[int]) -> bool | None:
    """Whether whoever listens on ``port`` is one of ``pids``; None if it cannot be told.

    A TCP probe alone would call a node healthy when some *other* process
    took its port first (the node then dies on its bind), so a passing probe
    is checked against the node's own sockets.
    """
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    return True
            except OSError:
                continue
    return False


class _NetnsHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection whose socket is made inside a netns lab's namespace."""

    def __init__(self, ns: str, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ns = ns

    def connect(self) -> None:
        from distlab.net.netns_kernel import socket_in

        sock = socket_in(self._ns)
        sock.settimeout(self.timeout)
        try:
            sock.connect((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.sock = sock
