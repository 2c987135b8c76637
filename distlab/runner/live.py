"""What the live events say about each layer while it runs.

When pytest dies without its JSON report (a timeout, ``os._exit``, a
signal) the events are the only record: which tests finished and how, and
which one was running when it died.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from distlab import events
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

    def observe(self, event: dict[str, Any]) -> None:
        """Take in one event."""
        kind, layer = event.get("kind"), event.get("layer") or ""
        with self._lock:
            if kind == events.TEST_START:
                self._running[layer] = (str(event.get("nodeid", "")), time.monotonic())
            elif kind == events.TEST_END and event.get("outcome") != "flaky":
                self._running.pop(layer, None)
                test = _test_of(event, layer)
                self._finished.setdefault(layer, {})[test.nodeid] = test
            elif kind == events.COLLECT:
                lines = self._lines.setdefault(layer, {})
                for t in event.get("tests", []):
                    if isinstance(t.get("line"), int):
                        lines[t["nodeid"]] = t["line"]

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


def _test_of(event: dict[str, Any], layer: str) -> TestResult:
    nodeid = str(event.get("nodeid", ""))
    outcome = str(event.get("outcome", "error"))
    message = str(event.get("message", "") or "")
    return TestResult(
        nodeid=nodeid,
        layer=layer,
        outcome=outcome,
        duration_s=float(event.get("duration_s") or 0.0),
        file=event.get("file") or nodeid.split("::")[0],
        line=event.get("line"),
        message=message,
        longrepr=str(event.get("longrepr", "") or ""),
        stdout=str(event.get("stdout", "") or ""),
        stderr=str(event.get("stderr", "") or ""),
        skip_reason=message if outcome == "skipped" else "",
    )
