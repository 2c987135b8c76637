"""What a run report needs from a run's events, folded once.

The dashboard's own model (``distlab.tui.state.LabState``) folds the run,
its layers, tests, gates and fault windows, so the report says what the
dashboard said about them. Beside it this keeps what the dashboard shows
only the tail of: every workload sample, each node's state and role over
time, when each test ran, and every checker verdict with the test it
judged. Nothing here draws.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from distlab.events import (
    CheckVerdict,
    Event,
    FaultEnd,
    FaultStart,
    Log,
    NodeRole,
    NodeSample,
    NodeStateChanged,
    PartitionChanged,
    ReadStats,
    TestEnd,
    TestStart,
    WorkloadSample,
    read_events,
)
from distlab.tui.state import FaultWindow, LabState


@dataclass
class NodeSpan:
    """A stretch of time in which one node kept one state and one role."""

    state: str
    role: str
    start: float
    end: float | None = None  # None while it lasts


@dataclass
class TestSpan:
    """One run of one test, from its start to its end (``end`` None: never ended)."""

    __test__ = False  # a record, not a pytest test class

    nodeid: str
    layer: str
    start: float
    end: float | None = None
    outcome: str = "running"


@dataclass
class RunDigest:
    """Everything the run report draws, from one pass over the events."""

    state: LabState = field(default_factory=LabState)
    samples: list[WorkloadSample] = field(default_factory=list)
    faults: list[FaultWindow] = field(default_factory=list)
    lanes: dict[str, list[NodeSpan]] = field(default_factory=dict)
    cpu: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    tests: list[TestSpan] = field(default_factory=list)
    checks: list[CheckVerdict] = field(default_factory=list)
    warnings: list[Log] = field(default_factory=list)
    events: int = 0
    skipped: int = 0
    first_problem: str = ""
    first_ts: float | None = None
    last_ts: float | None = None

    @property
    def origin(self) -> float:
        """Time zero of every axis: the run's start (else its first event)."""
        if self.state.started is not None:
            return self.state.started
        return self.first_ts or 0.0

    @property
    def end(self) -> float:
        """The run's end (else its last event): where open windows and spans stop."""
        return max(self.state.ended or 0.0, self.last_ts or 0.0, self.origin)

    def activity(self) -> tuple[float, float] | None:
        """The span the time charts cover: from the first to the last thing drawn on
        them (a sample, a fault, a node's state); None when there is nothing."""
        times: list[float] = []
        for s in self.samples:
            times += (s.ts - 1.0, s.ts)  # a sample covers the second before it
        for w in self.faults:
            times += (w.start, w.end if w.end is not None else self.end)
        for spans in self.lanes.values():
            times += (spans[0].start, spans[-1].end if spans[-1].end is not None else self.end)
        if not times:
            return None
        lo, hi = max(min(times), self.origin), max(times)
        return lo, max(hi, lo + 1.0)

    def test_at(self, ts: float) -> TestSpan | None:
        """The test that was running at ``ts`` (the latest to start, if several)."""
        found = None
        for span in self.tests:
            if span.start <= ts and (span.end is None or ts <= span.end):
                found = span
        return found


def digest_file(path: str | os.PathLike[str]) -> RunDigest:
    """Fold an ``events.jsonl``; lines that do not decode are counted, not fatal."""
    stats = ReadStats()
    digest = digest_events(read_events(Path(path), stats))
    digest.skipped, digest.first_problem = stats.skipped, stats.first_problem
    return digest


def digest_events(events: Iterable[Event]) -> RunDigest:
    """Fold typed events, in the order they were written."""
    d = RunDigest()
    windows: dict[int, FaultWindow] = {}
    open_tests: dict[str, TestSpan] = {}
    for event in events:
        d.events += 1
        d.state.apply(event)
        ts = event.ts
        d.first_ts = ts if d.first_ts is None else min(d.first_ts, ts)
        d.last_ts = ts if d.last_ts is None else max(d.last_ts, ts)
        match event:
            case WorkloadSample():
                d.samples.append(event)
            case FaultStart() | FaultEnd() | PartitionChanged():
                _keep_windows(d.state, windows)
            case NodeStateChanged():
                _change(d.lanes, event.node, ts, state=event.state or None)
            case NodeSample():
                if event.state:
                    _change(d.lanes, event.node, ts, state=event.state)
                if event.cpu_percent is not None:
                    d.cpu.setdefault(event.node, []).append((ts, event.cpu_percent))
            case NodeRole():
                _change(d.lanes, event.node, ts, role=event.role)
            case TestStart():
                span = open_tests[event.nodeid] = TestSpan(event.nodeid, event.layer, ts)
                d.tests.append(span)
            case TestEnd():
                ended = open_tests.pop(event.nodeid, None)
                if ended is None:  # its start was not recorded (a torn or filtered file)
                    ended = TestSpan(event.nodeid, event.layer, ts - (event.duration_s or 0.0))
                    d.tests.append(ended)
                ended.end, ended.outcome = ts, event.outcome
            case CheckVerdict():
                d.checks.append(event)
            case Log() if event.level in ("warning", "error"):
                d.warnings.append(event)
            case _:
                pass
    d.faults = sorted(windows.values(), key=lambda w: (w.start, w.seq))
    return d


def _keep_windows(state: LabState, windows: dict[int, FaultWindow]) -> None:
    """Keep every fault window the dashboard's model opened, however many.

    The model decides what a window is (a network partition announced by the
    nemesis is one window, not two) but keeps only the latest ones; a window
    it removed while still open was such a duplicate, so it goes here too.
    """
    for seq, window in state.faults.items():
        windows.setdefault(seq, window)
    for seq in [s for s, w in windows.items() if w.end is None and s not in state.faults]:
        del windows[seq]


def _change(
    lanes: dict[str, list[NodeSpan]],
    node: str,
    ts: float,
    *,
    state: str | None = None,
    role: str | None = None,
) -> None:
    """A node's state or role (or both) as of ``ts``: close its span, open the next."""
    spans = lanes.setdefault(node, [])
    last = spans[-1] if spans else None
    new_state = state if state is not None else (last.state if last else "up")
    new_role = role if role is not None else (last.role if last else "")
    if new_state in ("down", "crashed", "starting"):
        new_role = ""  # no process (or not serving yet): no role
    if last is not None and (last.state, last.role) == (new_state, new_role):
        return
    if last is not None:
        last.end = ts
    spans.append(NodeSpan(new_state, new_role, ts))
