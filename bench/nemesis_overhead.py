"""What the nemesis and history recording cost the workload: throughput with and without them.

A register server runs in a process of its own (stdlib asyncio on 127.0.0.1,
so it does not share our GIL); 4 closed-loop clients hit it for a fixed time
in three set-ups, alternated over several rounds, medians reported:

- ``bare``: plain client threads, no engine, nothing recorded;
- ``recorded``: the distlab workload engine writing history.jsonl, no nemesis;
- ``nemesis``: the same plus a nemesis flipping latency/loss faults every
  0.25 s on links of a distlab.net proxy server (its own process) that the
  workload does not use, so what is measured is the machinery (the nemesis
  thread, fault RPCs to the proxy server, events, history markers), not the
  faults' effect on traffic.

Target: nemesis + recording <= 5% below the same workload without them.

    .venv/bin/python bench/nemesis_overhead.py [--seconds 3] [--rounds 5] [--delay-ms 1 0]

``--delay-ms`` gives each request a service time, as a real system has (the
reference Raft KV needs milliseconds per acknowledged write): the fixed
per-op cost of recording then weighs what it weighs in a real test.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._results import record
from distlab import proc
from distlab.nemesis import Lab, Nemesis, chaos_monkey
from distlab.net import Network
from distlab.workload import Client, Completion, HistoryRecorder, Keys, Workload, register_mix

SERVER = r"""
import asyncio, sys
store = {}
delay = float(sys.argv[1]) / 1000
async def serve(reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            break
        if delay:
            await asyncio.sleep(delay)
        f, key, value = line.decode().rstrip("\n").split(" ", 2)
        if f == "w":
            store[key] = value
            writer.write(b"ok\n")
        else:
            writer.write((store.get(key, "-") + "\n").encode())
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


class LineClient(Client):
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    def call(self, f: str, key: str, value: object) -> str:
        self.sock.sendall(f"{f} {key} {value}\n".encode())
        return self.file.readline().decode().rstrip("\n")

    def invoke(self, op, timeout_s):  # type: ignore[no-untyped-def]
        if op.f == "write":
            self.call("w", op.key, op.value)
            return Completion.ok()
        got = self.call("r", op.key, "-")
        return Completion.ok(None if got == "-" else int(got))

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def bare(port: int, seconds: float, clients: int) -> float:
    counts = [0] * clients

    def loop(i: int) -> None:
        c = LineClient(port)
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            c.call("w" if n % 2 else "r", f"k{n % 3}", n)
            n += 1
        counts[i] = n
        c.close()

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


class Dummies:
    ids = ["a", "b", "c"]


def engine(
    port: int, seconds: float, clients: int, tmp: Path, net: Network | None, tag: str
) -> float:
    recorder = HistoryRecorder(tmp / f"{tag}.jsonl")
    w = Workload(
        lambda p: LineClient(port),
        recorder,
        mix=register_mix(read=1, write=1, cas=0),
        keys=Keys.uniform(3),
        clients=clients,
        duration_s=seconds,
        timeout_s=5.0,
        seed=1,
    )
    if net is None:
        summary = w.run()
    else:
        faults = [
            {"kind": "latency", "target": "all", "ms": [1, 50]},
            {"kind": "loss", "target": "all", "probability": 0.1},
        ]
        schedule = chaos_monkey(7, seconds, 0.25, faults, fault_s=0.15, quiet_s=0.25)
        with Nemesis(
            Lab(cluster=Dummies(), net=net, run_dir=tmp), schedule, seed=7, recorder=recorder
        ) as n:
            summary = w.run()
        assert not n.errors, n.errors
        assert len(n.applied) == len(schedule), "the nemesis did not keep up with its schedule"
    recorder.close()
    return summary.ops / seconds


def measure(delay_ms: float, seconds: float, rounds: int, clients: int) -> None:
    """One server with ``delay_ms`` per request; the three set-ups alternated ``rounds`` times."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        server = proc.spawn([sys.executable, "-c", SERVER, str(delay_ms)], stdout=subprocess.PIPE)
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            with Network.start(tmp) as net, socket.socket() as sink:
                sink.bind(("127.0.0.1", 0))
                sink.listen()
                for a in Dummies.ids:
                    for b in Dummies.ids:
                        if a != b:
                            net.add_link(a, b, sink.getsockname())
                runs: dict[str, list[float]] = {"bare": [], "recorded": [], "nemesis": []}
                for r in range(rounds):
                    runs["bare"].append(bare(port, seconds, clients))
                    runs["recorded"].append(engine(port, seconds, clients, tmp, None, f"rec{r}"))
                    runs["nemesis"].append(engine(port, seconds, clients, tmp, net, f"nem{r}"))
        finally:
            proc.kill_group(server)
            server.wait()
            proc.release(server)
    med = {k: statistics.median(v) for k, v in runs.items()}
    for k, v in runs.items():
        print(f"{k:>9}: " + ", ".join(f"{x:,.0f}" for x in v) + " ops/s")
    name = f"nemesis_overhead ({delay_ms:g} ms server)"
    record(f"{name}: bare client loop", med["bare"], "ops/s")
    record(f"{name}: engine + history", med["recorded"], "ops/s")
    record(f"{name}: engine + history + nemesis", med["nemesis"], "ops/s")
    record(
        f"{name}: nemesis cost vs engine + history",
        100 * (1 - med["nemesis"] / med["recorded"]),
        "%",
    )
    record(f"{name}: nemesis + history cost vs bare", 100 * (1 - med["nemesis"] / med["bare"]), "%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--delay-ms", type=float, nargs="+", default=[1.0, 0.0], help="server time per request"
    )
    args = parser.parse_args()
    for delay in args.delay_ms:
        measure(delay, args.seconds, args.rounds, args.clients)


if __name__ == "__main__":
    main()
