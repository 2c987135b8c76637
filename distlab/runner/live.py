"""What the live events say about each layer while it runs.

When pytest dies without its JSON report (a timeout, ``os._exit``, a
signal) the events are the only record: which tests finished and how, and
which one was running when it died.
"""

from __future__ import annotations

import threading
import time

from distlab.events import Collect, Event, TestEnd, TestStart
from distlab.results import TestResult


class LiveState:
    """Fed every event of a run (from the listener thread), read by the layer runners."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, tuple[str, float]] = {}
        self._finished: dict[str, dict[str, TestResult]] = {}
        self._lines: dict[str, dict[str, int]] = {}

    def begin(self, layer: str) -> None:
        """A new pytest process of ``layer`` starts: forget what the last one said."""
        with self._lock:
            self._running.pop(layer, None)
            self._finished[layer] = {}

    def observe(self, event: Event) -> None:
        """Take in one event."""
        with self._lock:
            match event:
                case TestStart(layer=layer, nodeid=nodeid):
                    self._running[layer] = (nodeid, time.monotonic())
                case TestEnd(layer=layer) if event.outcome != "flaky":
                    self._running.pop(layer, None)
                    self._finished.setdefault(layer, {})[event.nodeid] = _test_of(event)
                case Collect(layer=layer, tests=tests):
                    lines = self._lines.setdefault(layer, {})
                    for t in tests:
                        if t.line is not None:
                            lines[t.nodeid] = t.line

    def running(self, layer: str) -> str:
        """The test that started and has not ended in ``layer``, or ""."""
        with self._lock:
            return self._running.get(layer, ("", 0.0))[0]

    def running_for(self, layer: str) -> float:
        with self._lock:
            entry = self._running.get(layer)
            return time.monotonic() - entry[1] if entry else 0.0

    def line_of(self, layer: str, nodeid: str) -> int | None:
        with self._lock:
            return self._lines.get(layer, {}).get(nodeid)

    def finished_tests(self, layer: str) -> list[TestResult]:
        """Tests the events say ended, in the order they ended."""
        with self._lock:
            return list(self._finished.get(layer, {}).values())


def _test_of(event: TestEnd) -> TestResult:
    return TestResult(
        nodeid=event.nodeid,
        layer=event.layer,
        outcome=event.outcome,
        duration_s=event.duration_s or 0.0,
        file=event.file or event.nodeid.split("::")[0],
        line=event.line,
        message=event.message,
        longrepr=event.longrepr,
        stdout=event.stdout,
        stderr=event.stderr,
        skip_reason=event.message if event.outcome == "skipped" else "",
    )
