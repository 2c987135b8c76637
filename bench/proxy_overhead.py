"""Proxy overhead: p50 round trip of a small request/response through one link
proxy minus the same over direct loopback, measured in the same run (target:
<= 60 us added at p50). The echo server runs in a process of its own, as does
the proxy server, so the client, the proxy and the echo never share a GIL."""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._results import record
from distlab.net import Network
from distlab.proc import kill_group, spawn

ECHO = """
import asyncio, uvloop
class Echo(asyncio.Protocol):
    def connection_made(self, t): self.t = t
    def data_received(self, d): self.t.write(d)
async def main():
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
uvloop.run(main())
"""
ROUNDS = 4000
BLOCK = 200
MESSAGE = b"x" * 64


def round_trips(sock: socket.socket, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        sock.sendall(MESSAGE)
        got = 0
        while got < len(MESSAGE):
            got += len(sock.recv(4096))
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="bench-net-"))
    echo = spawn([sys.executable, "-c", ECHO], run_dir=run_dir, stdout=subprocess.PIPE)
    try:
        assert echo.stdout is not None
        echo_port = int(echo.stdout.readline())
        with Network.start(run_dir) as net:
            proxy_port = net.add_link("n1", "n2", ("127.0.0.1", echo_port))
            direct = socket.create_connection(("127.0.0.1", echo_port))
            proxied = socket.create_connection(("127.0.0.1", proxy_port))
            for s in (direct, proxied):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                round_trips(s, 200)  # warm up
            d: list[float] = []
            p: list[float] = []
            # Alternate in blocks so drift from the shared machine hits both alike.
            for _ in range(ROUNDS // BLOCK):
                d += round_trips(direct, BLOCK)
                p += round_trips(proxied, BLOCK)
            direct.close()
            proxied.close()
    finally:
        kill_group(echo)
        echo.wait()
    d50, p50 = statistics.median(d) * 1e6, statistics.median(p) * 1e6
    record("proxy_overhead.direct_p50", d50, "us")
    record("proxy_overhead.proxied_p50", p50, "us")
    record("proxy_overhead.added_p50", p50 - d50, "us")


if __name__ == "__main__":
    main()
