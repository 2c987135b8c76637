"""Bulk throughput through one link proxy (target: >= 1 GB/s), and over direct
loopback in the same run for comparison. The sink runs in a process of its
own and answers one byte once it has read everything."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._results import record
from distlab.net import Network
from distlab.proc import kill_group, spawn

SINK = """
import socket, sys
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
buf = bytearray(1 << 20)
while True:
    conn, _ = server.accept()
    want = int(conn.recv(32).split(b"\\n")[0])
    got = 0
    view = memoryview(buf)
    while got < want:
        n = conn.recv_into(view)
        if not n:
            break
        got += n
    conn.sendall(b"k")
    conn.close()
"""
TOTAL = 1 << 30  # 1 GiB per measurement
CHUNK = b"\0" * (1 << 20)


def throughput(port: int) -> float:
    """GB/s for TOTAL bytes sent to ``port`` until the sink says it has them all."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        header = f"{TOTAL}\n".encode().ljust(32, b" ")
        s.sendall(header)
        start = time.perf_counter()
        sent = 0
        while sent < TOTAL:
            s.sendall(CHUNK)
            sent += len(CHUNK)
        assert s.recv(1) == b"k"
        return TOTAL / (time.perf_counter() - start) / 1e9


def main() -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="bench-net-"))
    sink = spawn([sys.executable, "-c", SINK], run_dir=run_dir, stdout=subprocess.PIPE)
    try:
        assert sink.stdout is not None
        sink_port = int(sink.stdout.readline())
        with Network.start(run_dir) as net:
            proxy_port = net.add_link("n1", "n2", ("127.0.0.1", sink_port))
            direct = max(throughput(sink_port) for _ in range(2))
            proxied = max(throughput(proxy_port) for _ in range(3))
    finally:
        kill_group(sink)
        sink.wait()
    record("proxy_bulk.direct", direct, "GB/s")
    record("proxy_bulk.proxied", proxied, "GB/s")


if __name__ == "__main__":
    main()
