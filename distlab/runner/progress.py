"""Events as plain progress lines: what ``--ci`` prints live and what
``distlab replay`` prints for a finished run.

One line per layer start and end, a line per failure as it happens (with
its traceback, cut short), and, with ``each_test``, a short line per test
as it ends (as ``pytest -v`` or gotestsum print), so a layer of several
minutes is not minutes of silence. ``--ci -q`` leaves those out: a CI log of
a thousand-test run then holds only what needs reading.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from typing import TextIO

from distlab.events import (
    Collect,
    Event,
    GateResult,
    LayerEnd,
    LayerStart,
    Log,
    Metric,
    RunEnd,
    RunStart,
    TestEnd,
    TestStart,
)
from distlab.results import FAILING_OUTCOMES

# How a gate's state reads in a log line: only PASS is a pass.
GATE_WORDS = {
    "passed": "PASS",
    "failed": "FAIL",
    "not-evaluated": "NOT EVALUATED",
    "not-selected": "NOT SELECTED",
    "no-baseline": "NO BASELINE",
}

# Lines of a failure's traceback shown live; the JUnit and JSON keep all of it.
LONGREPR_LINES = 25


class ProgressPrinter:
    """Callable: feed it events, it writes lines to ``stream``."""

    def __init__(
        self, stream: TextIO | None = None, tracebacks: bool = True, each_test: bool = False
    ) -> None:
        self.stream = stream or sys.stdout
        self.tracebacks = tracebacks
        self.each_test = each_test  # a line per passed / skipped test too
        self._attempt: dict[str, int] = {}
        self._lock = threading.Lock()
        self._last_line = time.monotonic()
        # Per running layer: tests collected, tests ended, the test running and since when.
        self._collected: dict[str, int] = {}
        self._ended: dict[str, int] = {}
        self._running: dict[str, tuple[str, float]] = {}
        # The lines and branches figures arrive just before a layer's coverage.percent.
        self._coverage_parts: dict[tuple[str, str], float] = {}

    def __call__(self, event: Event) -> None:
        match event:
            case RunStart():
                self.line(f"distlab: run dir {event.run_dir}")
                self.line(f"distlab: layers {', '.join(event.layers)}")
            case LayerStart():
                self._layer_start(event)
            case Collect():
                self._collect(event)
            case TestStart():
                with self._lock:
                    self._running[event.layer] = (event.nodeid, time.monotonic())
            case TestEnd():
                with self._lock:
                    self._running.pop(event.layer, None)
                    self._ended[event.layer] = self._ended.get(event.layer, 0) + 1
                self._test_end(event)
            case LayerEnd():
                with self._lock:
                    self._collected.pop(event.layer, None)
                    self._running.pop(event.layer, None)
                self._layer_end(event)
            case GateResult():
                state = event.status or ("passed" if event.passed else "failed")
                self.line(
                    f"[gate] {GATE_WORDS.get(state, state)} {event.name}: {event.explanation}"
                )
            case Metric(name="coverage.lines_percent" | "coverage.branches_percent"):
                self._coverage_parts[(event.layer, event.name)] = event.value or 0.0
            case Metric(name="coverage.percent"):
                self._coverage(event)
            case Log(level="warning" | "error"):
                self.line(f"distlab: {event.level}: {event.message}")
            case RunEnd():
                reason = f" -- {event.reason}" if event.reason else ""
                self.line(
                    f"distlab: {event.verdict.upper()} (exit {event.exit_code}) "
                    f"in {event.duration_s:.1f}s{reason}"
                )

    def line(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)
            self._last_line = time.monotonic()

    def heartbeat(self, quiet_s: float = 60.0) -> None:
        """After ``quiet_s`` without output, say what each running layer is doing.

        A long layer prints nothing while its tests pass; CI systems that kill
        a job after minutes of silence, and people watching, need a sign of life.
        """
        now = time.monotonic()
        with self._lock:
            if now - self._last_line < quiet_s:
                return
            status = [
                (layer, total, self._ended.get(layer, 0), self._running.get(layer))
                for layer, total in self._collected.items()
            ]
        for layer, total, ended, running in status:
            doing = f"; running {running[0]} for {now - running[1]:.0f}s" if running else ""
            self.line(f"[{layer}] {ended} of {total} tests done{doing}")

    def _coverage(self, e: Metric) -> None:
        lines = self._coverage_parts.get((e.layer, "coverage.lines_percent"), 0.0)
        branches = self._coverage_parts.get((e.layer, "coverage.branches_percent"), 0.0)
        # The runner reports the run's total under the layer name "run".
        where = "distlab: run" if e.layer == "run" else f"[{e.layer}]"
        self.line(
            f"{where} coverage {e.value or 0.0:.1f}% (lines {lines:.1f}%, branches {branches:.1f}%)"
        )

    def _layer_start(self, e: LayerStart) -> None:
        self._attempt[e.layer] = e.attempt
        if e.attempt == 0:
            self.line(f"[{e.layer}] started")
        else:
            self.line(f"[{e.layer}] rerun {e.attempt} of the failed tests")

    def _collect(self, e: Collect) -> None:
        n = len(e.tests)
        with self._lock:
            self._collected[e.layer], self._ended[e.layer] = n, 0
        if self._attempt.get(e.layer, 0) == 0:
            self.line(f"[{e.layer}] collected {n} test{'' if n == 1 else 's'}")
        for err in e.errors:
            self.line(f"[{e.layer}] COLLECTION ERROR {err.nodeid}: {_last_line(err.message)}")

    def _test_end(self, e: TestEnd) -> None:
        if e.outcome == "flaky":
            self.line(f"[{e.layer}] FLAKY {e.nodeid} - {_first_line(e.message)}")
            return
        rerun = " (rerun)" if self._attempt.get(e.layer, 0) else ""
        if e.outcome not in FAILING_OUTCOMES:
            if self.each_test:
                why = f" - {_first_line(e.message)}" if e.outcome == "skipped" and e.message else ""
                took = f" ({_seconds(e.duration_s)})" if e.duration_s is not None else ""
                self.line(f"[{e.layer}] {e.outcome.upper()}{rerun} {e.nodeid}{took}{why}")
            return
        where = f"{e.file}:{e.line}" if e.file and e.line else ""
        self.line(
            f"[{e.layer}] {e.outcome.upper()}{rerun} {e.nodeid} - {_first_line(e.message)}"
            + (f" ({where})" if where else "")
        )
        if self.tracebacks and e.longrepr:
            lines = e.longrepr.rstrip().splitlines()
            if len(lines) > LONGREPR_LINES:
                lines = ["...", *lines[-LONGREPR_LINES:]]
            for text in lines:
                self.line(f"    {text}")

    def _layer_end(self, e: LayerEnd) -> None:
        shown = ", ".join(f"{n} {k}" for k, n in e.counts.items() if n) or "no tests"
        reason = f" -- {e.reason}" if e.reason else ""
        self.line(f"[{e.layer}] {e.outcome.upper()}: {shown} in {e.duration_s:.1f}s{reason}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    # pytest marks exception lines with "E   "; the message reads better without.
    return re.sub(r"^E\s+", "", lines[-1]) if lines else ""


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _seconds(value: float) -> str:
    return f"{value:.2f}s" if value < 10 else f"{value:.1f}s" if value < 600 else f"{value:.0f}s"
