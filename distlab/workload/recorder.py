"""The history as it happens: records written to ``history.jsonl`` one line at a time.

Times are ``time.monotonic_ns()``: precedence between ops must survive a
wall-clock step. Whoever injects faults marks them in the same history with
the same clock (``fault_start`` / ``fault_end``, process ``"nemesis"``), which
is how the stats checker finds fault windows (``distlab.checkers.stats``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from distlab.workload.client import Completion
from distlab.workload.ops import Operation

if TYPE_CHECKING:
    from distlab.checkers.history import History
    from distlab.checkers.linearizability import LinearizabilityResult
    from distlab.checkers.models import Model
    from distlab.checkers.stats import Stats


@dataclass
class InFlight:
    """An invoked op awaiting its completion."""

    op: Operation
    started_ns: int
    done: bool = False


class HistoryRecorder:
    """Thread-safe history writer; also keeps the records in memory for checking."""

    def __init__(
        self, path: str | Path | None = None, clock: Callable[[], int] = time.monotonic_ns
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.clock = clock
        self.records: list[dict[str, Any]] = []
        # (completion time ns, type, latency ns) per completed op, for live samples
        self.completions: list[tuple[int, str, int]] = []
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8", buffering=1)

    def _write(self, rec: dict[str, Any]) -> None:
        # Called with the lock held, so time order and file order agree.
        self.records.append(rec)
        if self._file is not None:
            self._file.write(json.dumps(rec, separators=(",", ":"), default=str) + "\n")

    def invoke(self, op: Operation) -> InFlight:
        """Record an invoke; returns the handle to complete it with."""
        with self._lock:
            now = self.clock()
            self._write(
                {
                    "process": op.process,
                    "type": "invoke",
                    "f": op.f,
                    "key": op.key,
                    "value": op.value,
                    "time": now,
                }
            )
            return InFlight(op, now)

    def complete(self, inflight: InFlight, completion: Completion) -> bool:
        """Record an op's completion; False if it was already completed (by the
        workload's watchdog after a hard timeout), in which case nothing is written."""
        with self._lock:
            if inflight.done:
                return False
            inflight.done = True
            now = self.clock()
            op = inflight.op
            value = op.value if completion.value is None else completion.value
            rec = {
                "process": op.process,
                "type": completion.type,
                "f": op.f,
                "key": op.key,
                "value": value,
                "time": now,
            }
            if completion.error:
                rec["error"] = completion.error
            self._write(rec)
            self.completions.append((now, completion.type, now - inflight.started_ns))
            return True

    def fault_start(self, fault_id: str, fault: str, target: Any = None, **params: Any) -> None:
        """Mark the start of a fault window (the nemesis calls this)."""
        self._nemesis("fault.start", {"id": fault_id, "fault": fault, "target": target, **params})

    def fault_end(self, fault_id: str, fault: str = "") -> None:
        """Mark the end (heal) of a fault."""
        self._nemesis("fault.end", {"id": fault_id, "fault": fault})

    def _nemesis(self, f: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._write(
                {"process": "nemesis", "type": "info", "f": f, "value": value, "time": self.clock()}
            )

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    # -- judging what was recorded --------------------------------------------------

    def history(self, model: Model | None = None) -> History:
        """The recorded history, validated (``model`` checks every ``f``)."""
        from distlab.checkers.history import from_records

        with self._lock:
            records = list(self.records)
        return from_records(records, str(self.path or "history"), model)

    def check(
        self, model: str | Model = "register", budget_s: float | None = 30.0
    ) -> LinearizabilityResult:
        """Check linearizability and announce the verdict (``distlab.checks``)."""
        from distlab.checkers.linearizability import check_linearizable
        from distlab.checkers.models import get_model
        from distlab.checks import announce

        m = get_model(model) if isinstance(model, str) else model
        history = self.history(m)
        if not any(op.type == "ok" for op in history.ops):
            # Nothing certainly happened, so nothing contradicts the model; calling
            # that "valid" would pass a system that never answered (lab, TUI, suites).
            from distlab.checkers.linearizability import LinearizabilityResult
            from distlab.checkers.verdict import Verdict

            detail = f"no verdict: no operation succeeded ({len(history.ops)} ops, none ok)"
            announce("linearizability", str(Verdict.UNKNOWN), detail)
            return LinearizabilityResult(m.name, Verdict.UNKNOWN, ops=len(history.ops))
        result = check_linearizable(history, m, budget_s=budget_s)
        page, unwritten = "", None
        if result.invalid and self.path is not None:
            from distlab.checkers import timeline

            # Written before the verdict is announced, so that the event can name it;
            # a page that cannot be written must not keep the verdict from being told.
            try:
                page = str(timeline.write(result, str(self.path), timeline.default_path(self.path)))
            except OSError as e:
                unwritten = e
        announce("linearizability", str(result.verdict), result.summary(), timeline=page)
        if unwritten is not None:
            raise unwritten
        return result

    def stats(self, sustain_s: float = 1.0, success: tuple[str, ...] = ("ok",)) -> Stats:
        """Throughput, latency, availability in and out of fault windows."""
        from distlab.checkers.stats import history_stats

        return history_stats(self.history(), sustain_s=sustain_s, success=success)
