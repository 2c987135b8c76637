"""Feed 50,000 recorded events through the dashboard; report the ingest rate and the
worst frame delay.

The stream is a 5,000-test run over five layers (500 modules) plus a lab session (node samples,
roles, link faults, partitions, workload samples), written to a file and replayed
as fast as the reader can push it -- the same path as `distlab replay` and as a
live run's callback. The app runs headless (Textual's test driver still lays out
and renders every refresh) at 160x48.

Figures:
- ingest rate: events applied per second, from first push to the last event drawn;
- worst flush: the longest single batch (apply + redraw) on the UI thread;
- worst frame delay: how late a 50 ms UI timer fired, worst case -- what a user
  pressing a key during the burst would wait on top of normal.

Twice: a flood (the whole file as fast as it reads: a replay) and paced at
10,000 events/s from a thread (a live run at the required rate).

    python bench/tui_ingest.py [--events N] [--no-record]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _results import record
from tui_events import cluster_session, suite_run, write

from distlab.events import read_events
from distlab.tui.app import DistlabApp
from distlab.tui.backend import ReplayBackend


def make_stream(path: Path, total: int) -> int:
    # 10 tests per module: this repo's suites have 6, large suites more.
    suites = suite_run(tests_per_layer=1000, tests_per_module=10, fail_every=97)
    lab = cluster_session(seconds=10_000)
    # Interleave: one lab event after every suite event, then lab events to the count.
    mixed = itertools.chain.from_iterable(zip(suites, lab, strict=False))
    stream = itertools.islice(itertools.chain(mixed, lab), total)
    return write(path, stream)


class PacedBackend(ReplayBackend):
    """Pushes the recorded events at a steady rate from a thread, like a live run's
    callback does, instead of as fast as the file can be read."""

    def __init__(self, path: Path, rate: float) -> None:
        super().__init__(path)
        self.rate = rate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, feed: Any) -> None:
        events = list(read_events(self.path))

        def pace() -> None:
            step = 0.01  # push every 10 ms
            per_step = max(1, int(self.rate * step))
            began = time.perf_counter()
            for i in range(0, len(events), per_step):
                due = began + (i / per_step) * step
                if self._stop.wait(max(0.0, due - time.perf_counter())):
                    return
                for event in events[i : i + per_step]:
                    feed.push(event)

        self._thread = threading.Thread(target=pace, daemon=True)
        self._thread.start()

    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()


async def measure(path: Path, total: int, rate: float | None = None) -> dict[str, float]:
    backend = ReplayBackend(path) if rate is None else PacedBackend(path, rate)
    app = DistlabApp(backend)
    async with app.run_test(size=(160, 48)) as pilot:
        # Frame delay counts from here: the app is up and the feed is flowing.
        app.stats["worst_lag_s"] = 0.0
        started = time.perf_counter()
        deadline = started + 300
        while app.stats["applied"] < total:
            if time.perf_counter() > deadline:
                raise SystemExit(f"only {app.stats['applied']} of {total} events after 300 s")
            await asyncio.sleep(0.01)
        await pilot.pause()
        took = time.perf_counter() - started
        backend.close()
        return {
            "rate": total / took,
            "seconds": took,
            "worst_flush_ms": app.stats["worst_flush_s"] * 1000,
            "worst_lag_ms": max(0.0, app.stats["worst_lag_s"]) * 1000,
            "batches": app.stats["batches"],
            "tests": len(app.state.tests),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument(
        "--no-record", action="store_true", help="print only; do not append to RESULTS.md"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        total = make_stream(path, args.events)
        flood = asyncio.run(measure(path, total))
        paced = asyncio.run(measure(path, total, rate=10_000))
    for label, f in (("flood", flood), ("paced 10k/s", paced)):
        print(
            f"{label}: {total} events ({f['tests']:.0f} tests) in {f['seconds']:.2f} s over "
            f"{f['batches']:.0f} batches"
        )
    show = print if args.no_record else None
    for name, value, unit in (
        ("tui ingest rate, flood (50k events, 5k tests)", flood["rate"], "events/s"),
        ("tui worst flush, flood (apply + redraw)", flood["worst_flush_ms"], "ms"),
        ("tui worst frame delay, flood (50 ms timer lateness)", flood["worst_lag_ms"], "ms"),
        ("tui worst flush, paced 10k events/s", paced["worst_flush_ms"], "ms"),
        ("tui worst frame delay, paced 10k events/s", paced["worst_lag_ms"], "ms"),
    ):
        if show:
            show(f"{name}: {value:,.1f} {unit}")
        else:
            record(name, value, unit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
