"""Events as plain progress lines: what ``--ci`` prints live and what
``distlab replay`` prints for a finished run.

One line per layer start and end, a line per failure as it happens (with
its traceback, cut short), and nothing per passing test: a CI log of a
thousand-test run stays readable.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from typing import Any, TextIO

# Lines of a failure's traceback shown live; the JUnit and JSON keep all of it.
LONGREPR_LINES = 25


class ProgressPrinter:
    """Callable: feed it events, it writes lines to ``stream``."""

    def __init__(self, stream: TextIO | None = None, tracebacks: bool = True) -> None:
        self.stream = stream or sys.stdout
        self.tracebacks = tracebacks
        self._attempt: dict[str, int] = {}
        self._lock = threading.Lock()
        self._last_line = time.monotonic()
        # Per running layer: tests collected, tests ended, the test running and since when.
        self._collected: dict[str, int] = {}
        self._ended: dict[str, int] = {}
        self._running: dict[str, tuple[str, float]] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        kind = str(event.get("kind", ""))
        layer = str(event.get("layer", ""))
        with self._lock:
            if kind == "test.start":
                self._running[layer] = (str(event.get("nodeid", "")), time.monotonic())
            elif kind == "test.end":
                self._running.pop(layer, None)
                self._ended[layer] = self._ended.get(layer, 0) + 1
            elif kind == "layer.end":
                self._collected.pop(layer, None)
                self._running.pop(layer, None)
        handler = getattr(self, "_" + kind.replace(".", "_"), None)
        if handler is not None:
            handler(event)

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

    def _run_start(self, e: dict[str, Any]) -> None:
        self.line(f"distlab: run dir {e.get('run_dir')}")
        self.line(f"distlab: layers {', '.join(e.get('layers') or [])}")

    def _layer_start(self, e: dict[str, Any]) -> None:
        layer, attempt = e.get("layer", "?"), int(e.get("attempt") or 0)
        self._attempt[layer] = attempt
        if attempt == 0:
            self.line(f"[{layer}] started")
        else:
            self.line(f"[{layer}] rerun {attempt} of the failed tests")

    def _collect(self, e: dict[str, Any]) -> None:
        layer = e.get("layer", "?")
        n = len(e.get("tests") or [])
        with self._lock:
            self._collected[layer], self._ended[layer] = n, 0
        if self._attempt.get(layer, 0) == 0:
            self.line(f"[{layer}] collected {n} test{'' if n == 1 else 's'}")
        for err in e.get("errors") or []:
            last = _last_line(str(err.get("message", "")))
            self.line(f"[{layer}] COLLECTION ERROR {err.get('nodeid')}: {last}")

    def _test_end(self, e: dict[str, Any]) -> None:
        outcome = e.get("outcome")
        layer = e.get("layer", "?")
        if outcome == "flaky":
            message = _first_line(str(e.get("message") or ""))
            self.line(f"[{layer}] FLAKY {e.get('nodeid')} - {message}")
            return
        if outcome not in ("failed", "error"):
            return
        rerun = " (rerun)" if self._attempt.get(layer, 0) else ""
        message = _first_line(str(e.get("message") or ""))
        where = f"{e.get('file')}:{e.get('line')}" if e.get("file") and e.get("line") else ""
        self.line(
            f"[{layer}] {str(outcome).upper()}{rerun} {e.get('nodeid')} - {message}"
            + (f" ({where})" if where else "")
        )
        if self.tracebacks and e.get("longrepr"):
            lines = str(e["longrepr"]).rstrip().splitlines()
            if len(lines) > LONGREPR_LINES:
                lines = ["...", *lines[-LONGREPR_LINES:]]
            for text in lines:
                self.line(f"    {text}")

    def _layer_end(self, e: dict[str, Any]) -> None:
        counts = e.get("counts") or {}
        shown = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no tests"
        reason = f" -- {e['reason']}" if e.get("reason") else ""
        self.line(
            f"[{e.get('layer')}] {str(e.get('outcome')).upper()}: {shown} "
            f"in {float(e.get('duration_s') or 0):.1f}s{reason}"
        )

    def _gate(self, e: dict[str, Any]) -> None:
        status = "PASS" if e.get("passed") else "FAIL"
        self.line(f"[gate] {status} {e.get('name')}: {e.get('explanation', '')}")

    def _log(self, e: dict[str, Any]) -> None:
        if e.get("level") in ("warning", "error"):
            self.line(f"distlab: {e.get('level')}: {e.get('message')}")

    def _run_end(self, e: dict[str, Any]) -> None:
        reason = f" -- {e['reason']}" if e.get("reason") else ""
        self.line(
            f"distlab: {str(e.get('verdict')).upper()} (exit {e.get('exit_code')}) "
            f"in {float(e.get('duration_s') or 0):.1f}s{reason}"
        )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    # pytest marks exception lines with "E   "; the message reads better without.
    return re.sub(r"^E\s+", "", lines[-1]) if lines else ""


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
