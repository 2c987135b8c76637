"""Fault-to-effect latency, netns mode vs proxy mode, side by side in one run.

The same method as ``proxy_fault_latency.py`` for both backends: a sender
thread streams numbered 8-byte frames over one live TCP connection from n1
to n2 (one every ~0.2 ms); we cut n1 -> n2 and take the send time of the last
frame that still arrived, relative to the start of the cut call (how soon the
cut took effect); then heal and take the first frame sent after the heal
call began that arrived. In proxy mode the stream goes through a link proxy
on 127.0.0.1; in netns mode from a socket in n1's namespace to a listener in
n2's, over the run's bridge, and the cut is an nftables rule. Needs root.

    .venv/bin/python bench/netns_fault_latency.py [--trials N]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import record
from proxy_fault_latency import Stream

from distlab.net import Network
from distlab.net.netns import NetnsBackend, NetnsLab
from distlab.net.netns_kernel import socket_in


def trials(net: Network, stream: Stream, count: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"cut": [], "heal": [], "call": []}
    for _ in range(count):
        stream.receive(0.05)  # flowing
        t0 = time.perf_counter()
        net.cut("n1", "n2")
        out["call"].append(time.perf_counter() - t0)
        got = stream.receive(2.0, quiet_s=0.1)
        last = stream.sent[got[-1]] if got else t0
        out["cut"].append(max(0.0, last - t0))
        t0 = time.perf_counter()
        net.heal()
        out["call"].append(time.perf_counter() - t0)
        # A dropped segment comes back with TCP's retransmission, so allow for one RTO.
        got = stream.receive(1.5, quiet_s=0.5)
        first = next((stream.sent[n] for n in got if stream.sent[n] >= t0), None)
        if first is not None:
            out["heal"].append(first - t0)
    return out


def proxy_mode(count: int) -> dict[str, list[float]]:
    server = socket.create_server(("127.0.0.1", 0))
    with Network.start(Path(tempfile.mkdtemp(prefix="bench-netns-p-"))) as net:
        port = net.add_link("n1", "n2", server.getsockname())
        net.add_link("n2", "n1", server.getsockname())
        stream = Stream(port, server)
        try:
            return trials(net, stream, count)
        finally:
            stream.close()
            server.close()


class NetnsStream(Stream):
    """The same stream, from a socket in n1's namespace to a listener in n2's."""

    def __init__(self, lab: NetnsLab) -> None:
        server = socket_in(lab.spaces["n2"].path)
        server.bind((lab.address["n2"], 0))
        server.listen(1)
        out = socket_in(lab.spaces["n1"].path)
        out.connect(server.getsockname())
        self._server = server
        self._init(out, server)

    def _init(self, out: socket.socket, server: socket.socket) -> None:
        import threading

        self.out = out
        self.out.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inp, _ = server.accept()
        self.sent = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._send, daemon=True)
        self.thread.start()


def netns_mode(count: int) -> dict[str, list[float]]:
    lab = NetnsLab(Path(tempfile.mkdtemp(prefix="bench-netns-n-")), ["n1", "n2"])
    with Network(NetnsBackend(lab)) as net:
        net.add_node("n1")
        net.add_node("n2")
        stream = NetnsStream(lab)
        try:
            return trials(net, stream, count)
        finally:
            stream.close()
            stream._server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    n = parser.parse_args().trials
    for mode, run in (("proxy", proxy_mode), ("netns", netns_mode)):
        got = run(n)
        record(f"fault_effect.{mode}.cut_p50", statistics.median(got["cut"]) * 1e3, "ms")
        record(f"fault_effect.{mode}.cut_max", max(got["cut"]) * 1e3, "ms")
        if got["heal"]:
            record(f"fault_effect.{mode}.heal_p50", statistics.median(got["heal"]) * 1e3, "ms")
        record(f"fault_effect.{mode}.control_call_p50", statistics.median(got["call"]) * 1e3, "ms")


if __name__ == "__main__":
    main()
