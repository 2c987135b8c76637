"""Socket helpers shared by the proxy tests (tests/test_net_*.py)."""

from __future__ import annotations

import socket

QUIET_S = 0.3  # how long we listen to conclude that bytes vanished


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Read exactly ``n`` bytes; fails the test if the peer closes first."""
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        assert chunk, "connection closed early"
        out += chunk
    return out


def silent(sock: socket.socket) -> bool:
    """True when nothing arrives on ``sock`` for QUIET_S."""
    sock.settimeout(QUIET_S)
    try:
        data = sock.recv(100)
    except TimeoutError:
        return True
    finally:
        sock.settimeout(5)
    raise AssertionError(f"expected silence, got {data!r}")
