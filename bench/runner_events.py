"""Event stream throughput: events/s from a pytest process to the runner's listener.

Target (issue 4): >= 10,000 events/s without slowing the test process. One
test emits N ``metric``-sized events in a loop; the runner's real
``EventListener`` receives them (parsing each, writing events.jsonl,
calling a callback). Figures: the end-to-end rate (first emit to last
event received, every event accounted for), and the test's own loop time
with the stream on vs off (DISTLAB_EVENTS unset: the cost of a plain
pytest run), as a per-event cost.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import record

from distlab.env import EVENTS_ENV
from distlab.events import Event, Metric
from distlab.runner.listener import EventListener

N = 50_000
TEST = f"""
import os, time
from distlab import events

def test_emit_many():
    started = time.perf_counter()
    for i in range({N}):
        events.emit(events.Metric(layer="performance", nodeid="t.py::x", name="op_ms",
                    value=i * 0.5, unit="ms", tags={{"f": "put"}}))
    elapsed = time.perf_counter() - started
    with open(os.environ["BENCH_OUT"], "w") as f:
        f.write(f"{{time.time() - elapsed}} {{elapsed}}")
"""


def run_test(tmp: Path, address: str | None, out: Path) -> tuple[float, float]:
    env = {**os.environ, "BENCH_OUT": str(out)}
    env.pop(EVENTS_ENV, None)
    if address:
        env[EVENTS_ENV] = address
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp / "test_emit.py")],
        env=env,
        cwd=tmp,
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    started_wall, loop_s = (float(x) for x in out.read_text().split())
    return started_wall, loop_s


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="distlab-bench-") as t:
        tmp = Path(t)
        (tmp / "test_emit.py").write_text(TEST)
        received = 0
        last = [0.0]
        done = threading.Event()

        def on_event(event: Event) -> None:
            nonlocal received
            if isinstance(event, Metric):
                received += 1
                last[0] = time.time()
                if received == N:
                    done.set()

        listener = EventListener(tmp / "events.jsonl", on_event)
        address = listener.open_endpoint("performance")
        started, loop_on = run_test(tmp, address, tmp / "on")
        done.wait(60)
        listener.close_endpoint(address)
        listener.close()
        if received != N:
            raise SystemExit(f"lost events: sent {N}, received {received}")
        _, loop_off = run_test(tmp, None, tmp / "off")
    record(
        f"runner_events: end-to-end, {N:,} events pytest -> listener",
        N / (last[0] - started),
        "events/s",
    )
    record("runner_events: emit loop in the test, stream on", N / loop_on, "events/s")
    record("runner_events: cost per event to the test, stream on", loop_on / N * 1e6, "us")
    record("runner_events: cost per event to the test, stream off", loop_off / N * 1e6, "us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
