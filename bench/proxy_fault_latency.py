"""How fast a fault takes effect on a live link (target: within 10 ms of the call).

A sender thread streams small numbered messages through one link proxy, one
every ~0.2 ms, remembering when it sent each. We cut the link and look at the
last message that still got through: how long after the call began was it
sent? That bounds when the cut took effect. The same for heal: how long after
the heal call began was the first message sent that got through. Also the
plain duration of the control call.
"""

from __future__ import annotations

import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._results import record
from distlab.net import Network

TRIALS = 20
FRAME = struct.Struct("!Q")


class Stream:
    """Numbered 8-byte frames from a sender thread; send times kept per number."""

    def __init__(self, port: int, server: socket.socket) -> None:
        self.out = socket.create_connection(("127.0.0.1", port))
        self.out.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inp, _ = server.accept()
        self.sent: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._send, daemon=True)
        self.thread.start()

    def _send(self) -> None:
        n = 0
        while not self.stop.is_set() and n < 2_000_000:
            self.sent.append(time.perf_counter())
            self.out.sendall(FRAME.pack(n))
            n += 1
            time.sleep(0.0002)

    def receive(self, for_s: float, quiet_s: float | None = None) -> list[int]:
        """Frame numbers received for ``for_s``, or until nothing came for ``quiet_s``."""
        deadline = time.perf_counter() + for_s
        buf = b""
        numbers: list[int] = []
        while (left := deadline - time.perf_counter()) > 0:
            self.inp.settimeout(min(left, quiet_s) if quiet_s else left)
            try:
                data = self.inp.recv(65536)
            except TimeoutError:
                if quiet_s:
                    break
                continue
            if not data:
                break
            buf += data
            whole = len(buf) // FRAME.size * FRAME.size
            numbers += [FRAME.unpack_from(buf, i)[0] for i in range(0, whole, FRAME.size)]
            buf = buf[whole:]
        return numbers

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.out.close()
        self.inp.close()


def main() -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="bench-net-"))
    server = socket.create_server(("127.0.0.1", 0))
    cut_effect, heal_effect, call = [], [], []
    with Network.start(run_dir) as net:
        port = net.add_link("n1", "n2", server.getsockname())
        net.add_link("n2", "n1", server.getsockname())
        stream = Stream(port, server)
        try:
            for _ in range(TRIALS):
                stream.receive(0.05)  # the link is flowing
                t0 = time.perf_counter()
                net.cut("n1", "n2")
                call.append(time.perf_counter() - t0)
                got = stream.receive(2.0, quiet_s=0.1)
                last = stream.sent[got[-1]] if got else t0
                cut_effect.append(max(0.0, last - t0))
                t0 = time.perf_counter()
                net.heal()
                call.append(time.perf_counter() - t0)
                got = stream.receive(0.05)
                first = next((stream.sent[n] for n in got if stream.sent[n] >= t0), None)
                if first is not None:
                    heal_effect.append(first - t0)
        finally:
            stream.close()
            server.close()
    record("proxy_fault.cut_effect_p50", statistics.median(cut_effect) * 1e3, "ms")
    record("proxy_fault.cut_effect_max", max(cut_effect) * 1e3, "ms")
    record("proxy_fault.heal_effect_p50", statistics.median(heal_effect) * 1e3, "ms")
    record("proxy_fault.control_call_p50", statistics.median(call) * 1e3, "ms")


if __name__ == "__main__":
    main()
