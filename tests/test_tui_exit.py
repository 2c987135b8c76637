"""Quitting while events flood in: the event pump stops before Textual takes the
screens down, so no flush ever looks for a widget that is gone (issue 19 item 6)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from tui_helpers import DATA, pilot_test

from distlab.events import Event, read_events
from distlab.tui import app as app_module
from distlab.tui.app import DistlabApp
from distlab.tui.backend import ReplayBackend

STREAMS = ("running", "partitioned", "finished")
LAUNCHES = int(os.environ.get("TUI_EXIT_LAUNCHES", "50"))
CHUNK = 500
BACKLOG = 50_000


class FloodBackend(ReplayBackend):
    """Pushes recorded events in a loop from a thread until closed: a live run
    that never lets up."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__(DATA / "events_running.jsonl")
        self.events = events
        self.pushed = 0
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, feed: Any) -> None:
        def flood() -> None:
            # Chunks with a 1 ms breath (the GIL): still far above the 10,000 events/s a
            # live run sends; the backlog is capped so a slow flush cannot grow it forever.
            while not self._done.is_set():
                for i in range(0, len(self.events), CHUNK):
                    if len(feed) < BACKLOG:
                        for event in self.events[i : i + CHUNK]:
                            feed.push(event)
                        self.pushed += CHUNK
                    if self._done.wait(0.001):
                        return

        self._thread = threading.Thread(target=flood, daemon=True)
        self._thread.start()

    def busy(self) -> bool:
        return not self._done.is_set()

    def close(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(5)


class WatchedApp(DistlabApp):
    """Counts redraws that start after exit() was asked for: each one is a flush
    racing Textual's teardown, the crash seen as NoMatches in _redraw."""

    CSS_PATH = Path(app_module.__file__).parent / DistlabApp.CSS_PATH  # not beside this file
    quitting = False
    late_redraws = 0

    def exit(self, result: int | None = None, return_code: int = 0, message: Any = None) -> None:
        self.quitting = True
        super().exit(result, return_code, message)

    def _redraw(self, areas: set[str], tests: set[str], nodes: set[str]) -> None:
        if self.quitting or not self.is_running:
            self.late_redraws += 1
        super()._redraw(areas, tests, nodes)


@pytest.mark.timeout(900)  # 50 launches: ~2 s each on a quiet machine, ~4-6 s under load
@pilot_test
async def test_quit_while_events_flood_in_never_crashes_50_times() -> None:
    events = [e for name in STREAMS for e in read_events(DATA / f"events_{name}.jsonl")]
    for launch in range(LAUNCHES):
        backend = FloodBackend(events)
        app = WatchedApp(backend, live_clock=True, initial_tab=("suites", "cluster")[launch % 2])
        async with app.run_test(size=(80, 24)) as pilot:
            while not app.started.is_set() or backend.pushed == 0:
                await pilot.pause(0.005)
            # Quit at a different point of the flush cycle each launch.
            await pilot.pause((launch % 10) * 0.011)
            if launch % 3:
                await pilot.press("q")
                await pilot.pause()
            # else: leave without q, as the ingest benchmark did -- run_test shuts the
            # app down directly, which is where the crash was seen.
        backend.close()
        # run_test re-raises what crashed the app; also check the exit code.
        assert app.return_code in (0, None), f"launch {launch}: exit {app.return_code}"
        assert app.stats["batches"] > 0, f"launch {launch}: nothing was drawn before q"
        assert app.late_redraws == 0, f"launch {launch}: {app.late_redraws} redraws after q"
