"""Feed 50,000 recorded events through the dashboard with a CPU hog beside it; report
the ingest rate and the frame delays.

The stream is a 5,000-test run over five layers (500 modules) plus a lab session
(node samples, roles, link faults, partitions, workload samples), written to a file
and pushed from a thread -- the same path as `distlab replay` and as a live run's
callback. The app runs headless (Textual's test driver still lays out and renders
every refresh) at 160x48.

A second CPU-bound process (a busy loop, `python -c "while True: pass"`) runs beside
the app for the length of each measured phase, as a test run or another engineer's
work would on a 2-core machine; the load average (1 min) and the runnable tasks
sampled while measuring (/proc/loadavg) are printed and recorded with the figures.
`--no-hog` leaves the busy loop out.

Figures:
- ingest rate: events per second from the first push until the last event is drawn
  (the feed empty, nothing dirty: the tree has a node for every module);
- worst flush: the longest single batch (apply + redraw) on the UI thread;
- frame delay: how late a 50 ms UI timer fired, worst case and 99th percentile
  (nearest rank) -- what a user pressing a key during the burst would wait on top
  of normal.

Twice: a flood (the whole file as fast as a thread reads it: a replay) and paced at
10,000 events/s from a thread (a live run at the required rate).

    .venv/bin/python bench/tui_ingest.py [--events N] [--no-hog] [--no-record]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _results import RESULTS, record
from tui_events import cluster_session, suite_run, write

from distlab.events import read_events
from distlab.tui.app import DistlabApp
from distlab.tui.backend import ReplayBackend

PROBE_S = 0.05  # the frame-delay probe: a UI timer at this interval
PACED_RATE = 10_000


def make_stream(path: Path, total: int) -> int:
    # 10 tests per module: this repo's suites have 6, large suites more.
    suites = suite_run(tests_per_layer=1000, tests_per_module=10, fail_every=97)
    lab = cluster_session(seconds=10_000)
    # Interleave: one lab event after every suite event, then lab events to the count.
    mixed = itertools.chain.from_iterable(zip(suites, lab, strict=False))
    stream = itertools.islice(itertools.chain(mixed, lab), total)
    return write(path, stream)


class FloodBackend(ReplayBackend):
    """A replay (a thread reads and pushes the file as fast as it can) that notes when
    it started."""

    began = 0.0

    def start(self, feed: Any) -> None:
        self.began = time.perf_counter()
        super().start(feed)


class PacedBackend(FloodBackend):
    """Reads and pushes the recorded events at a steady rate from a thread, like a live
    run's callback does, instead of as fast as the file can be read."""

    def __init__(self, path: Path, rate: float) -> None:
        super().__init__(path)
        self.rate = rate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, feed: Any) -> None:
        self.began = time.perf_counter()

        def pace() -> None:
            # Decoded on this thread, as a live run's reader does: the UI thread only
            # ever sees decoded events.
            events = read_events(self.path)
            step = 0.01  # push every 10 ms
            per_step = max(1, int(self.rate * step))
            began = time.perf_counter()
            for n in itertools.count():
                due = began + n * step
                if self._stop.wait(max(0.0, due - time.perf_counter())):
                    return
                chunk = list(itertools.islice(events, per_step))
                if not chunk:
                    return
                for event in chunk:
                    feed.push(event)

        self._thread = threading.Thread(target=pace, daemon=True)
        self._thread.start()

    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()


class RunnableSampler:
    """The machine's runnable tasks (/proc/loadavg's 4th field), sampled every 0.1 s
    from a thread: the load the figures were taken under, not the last minute's."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                running = Path("/proc/loadavg").read_text().split()[3].split("/")[0]
            except (OSError, IndexError):
                return  # not Linux: the load average alone is reported
            self.samples.append(int(running))

    def __enter__(self) -> RunnableSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def mean(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else float("nan")


@contextmanager
def cpu_hog(on: bool) -> Iterator[None]:
    """A second CPU-bound process (a busy loop) for the length of the block."""
    if not on:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def drawn(app: DistlabApp, total: int) -> bool:
    """Every event applied and drawn: nothing waits in the feed or in the state."""
    return app.stats["applied"] >= total and not len(app.feed) and not (app.state.dirty - {"clock"})


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: with 100 probes, p99 is the second worst."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else 0.0


async def measure(path: Path, total: int, rate: float | None = None) -> dict[str, float]:
    backend = FloodBackend(path) if rate is None else PacedBackend(path, rate)
    app = DistlabApp(backend)
    lags: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        while not app.started.is_set():
            await asyncio.sleep(0.01)
        # Frame delays count from here: the app is up and the feed is flowing.
        beat = [time.perf_counter()]

        def probe() -> None:
            now = time.perf_counter()
            lags.append(max(0.0, now - beat[0] - PROBE_S))
            beat[0] = now

        timer = app.set_interval(PROBE_S, probe)
        deadline = time.perf_counter() + 300
        while not drawn(app, total):
            if time.perf_counter() > deadline:
                raise SystemExit(f"only {app.stats['applied']} of {total} events after 300 s")
            await asyncio.sleep(0.01)
        await pilot.pause()
        took = time.perf_counter() - backend.began
        timer.stop()
        backend.close()
        return {
            "rate": total / took,
            "seconds": took,
            "worst_flush_ms": app.stats["worst_flush_s"] * 1000,
            "worst_lag_ms": max(lags, default=0.0) * 1000,
            "p99_lag_ms": percentile(lags, 0.99) * 1000,
            "probes": len(lags),
            "batches": app.stats["batches"],
            "tests": len(app.state.tests),
            "load": os.getloadavg()[0],
        }


def phase(path: Path, total: int, rate: float | None, hog: bool) -> dict[str, float]:
    with cpu_hog(hog), RunnableSampler() as runnable:
        figures = asyncio.run(measure(path, total, rate))
    return {**figures, "runnable": runnable.mean()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--no-hog", action="store_true", help="no busy-loop process beside the app")
    parser.add_argument(
        "--no-record", action="store_true", help="print only; do not append to RESULTS.md"
    )
    args = parser.parse_args()
    hog = not args.no_hog
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        total = make_stream(path, args.events)
        flood = phase(path, total, None, hog)
        paced = phase(path, total, PACED_RATE, hog)
    beside = "a busy-loop process beside the app" if hog else "nothing else started"
    print(
        f"load average (1 min): {load_before:.2f} before, {flood['load']:.2f} after the flood, "
        f"{paced['load']:.2f} after the paced phase; runnable tasks (mean of 0.1 s samples, "
        f"this process and the hog included): {flood['runnable']:.1f} flood, "
        f"{paced['runnable']:.1f} paced; {beside}"
    )
    for label, f in (("flood", flood), (f"paced {PACED_RATE // 1000}k/s", paced)):
        print(
            f"{label}: {total} events ({f['tests']:.0f} tests) in {f['seconds']:.2f} s over "
            f"{f['batches']:.0f} batches, {f['probes']:.0f} frame probes"
        )
    tag = ", CPU hog beside" if hog else ""
    rows = (
        (f"tui ingest rate, flood (50k events, 5k tests){tag}", flood["rate"], "events/s"),
        (f"tui worst flush, flood (apply + redraw){tag}", flood["worst_flush_ms"], "ms"),
        (f"tui worst frame delay, flood (50 ms timer lateness){tag}", flood["worst_lag_ms"], "ms"),
        (f"tui p99 frame delay, flood{tag}", flood["p99_lag_ms"], "ms"),
        (f"tui worst flush, paced 10k events/s{tag}", paced["worst_flush_ms"], "ms"),
        (f"tui worst frame delay, paced 10k events/s{tag}", paced["worst_lag_ms"], "ms"),
        (f"tui p99 frame delay, paced 10k events/s{tag}", paced["p99_lag_ms"], "ms"),
        (f"tui ingest: load average (1 min) after the paced phase{tag}", paced["load"], ""),
        (f"tui ingest: runnable tasks during the paced phase (mean){tag}", paced["runnable"], ""),
    )
    if args.no_record:
        for name, value, unit in rows:
            print(f"{name}: {value:,.1f} {unit}")
        return 0
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(
            f"\nRows below, {time.strftime('%Y-%m-%d %H:%M')}: bench/tui_ingest.py at load "
            f"average {load_before:.1f} before and {paced['load']:.1f} after (1 min), "
            f"{paced['runnable']:.1f} runnable tasks on average while paced, with {beside} "
            f"on this 2-core machine.\n"
        )
    for name, value, unit in rows:
        record(name, value, unit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
