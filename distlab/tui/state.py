"""The dashboard's state: a pure model fed one event at a time.

Nothing here draws or touches a process. ``LabState.apply(event)`` folds one
event (docs/events.md) into the model and records what changed in
``LabState.dirty``, so the widgets redraw only that. Time comes from the
events' own ``ts``, never the wall clock, so a replayed run looks the same
every time (and snapshots are stable).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from distlab.config.schema import LAYERS
from distlab.events import (
    CheckVerdict,
    Collect,
    Event,
    FaultEnd,
    FaultStart,
    GateResult,
    LayerEnd,
    LayerStart,
    LinkState,
    Log,
    Metric,
    NodeRole,
    NodeSample,
    NodeStateChanged,
    PartitionChanged,
    RunEnd,
    RunStart,
    TestEnd,
    TestStart,
    WorkloadSample,
)
from distlab.results import COUNTED_OUTCOMES, FAILING_OUTCOMES

# What counts as "went wrong" for rerun-failed, the failure screen and the filter.
FAILING = FAILING_OUTCOMES
THROUGHPUT_WINDOW = 300  # samples kept for the sparkline (one a second: five minutes)
TIMELINE_KEEP = 200  # fault windows kept
# A checker's INVALID in a test that then passed: the test asserted the violation.
EXPECTED_INVALID = "invalid (expected)"
# The fault id of a partition made on the network directly (no nemesis fault named it).
NET_PARTITION_ID = "net/partition"
# A nemesis partition announced within this long after a network change made that change.
NET_PARTITION_SAME_S = 2.0
LOG_KEEP = 200
TALLY_KEYS = (*COUNTED_OUTCOMES, "running", "pending")


@dataclass
class TestInfo:
    """One test as the events described it."""

    __test__ = False  # a record, not a pytest test class

    nodeid: str
    layer: str
    file: str = ""
    line: int | None = None
    markers: tuple[str, ...] = ()
    outcome: str = "pending"  # pending | running | passed | failed | flaky | skipped | error
    duration_s: float | None = None
    message: str = ""
    longrepr: str = ""
    stdout: str = ""
    stderr: str = ""

    @property
    def module(self) -> str:
        """The test's file (the tree's middle level)."""
        return self.nodeid.split("::", 1)[0]

    @property
    def name(self) -> str:
        """The test's name within its module."""
        return self.nodeid.split("::", 1)[1] if "::" in self.nodeid else self.nodeid

    @property
    def failing(self) -> bool:
        return self.outcome in FAILING


@dataclass
class LayerInfo:
    """One layer: its tests, counts and timing."""

    name: str
    status: str = "idle"  # idle | running | passed | failed | error | timeout | empty | stopped
    attempt: int = 0
    tests: dict[str, TestInfo] = field(default_factory=dict)
    started: float | None = None
    ended: float | None = None
    reason: str = ""

    # Kept up to date by LabState.set_outcome, so counting never walks 5,000 tests.
    tally: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TALLY_KEYS, 0))

    def counts(self) -> dict[str, int]:
        """passed, failed, flaky, skipped, error, running, pending, total."""
        return {**self.tally, "total": len(self.tests)}

    def done(self) -> int:
        return len(self.tests) - self.tally["pending"] - self.tally["running"]


@dataclass
class NodeInfo:
    """One cluster node as the cluster, monitor and status poller described it."""

    id: str
    state: str = "starting"
    role: str = ""
    term: int | None = None
    leader: str | None = None
    pid: int | None = None
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    fds: int | None = None
    up_since: float | None = None
    restarts: int = 0
    exit_code: int | None = None
    signal: str | None = None


@dataclass
class FaultWindow:
    """One occurrence of a fault, from its start to its end (``end`` None while active).

    Keyed by occurrence (``seq``), not by ``id``: schedules reuse ids (the
    shrinker runs ``monkey/f1``..``f6`` in every trial), and each firing is a
    window of its own.
    """

    id: str
    fault: str
    target: Any
    params: dict[str, Any]
    start: float
    end: float | None = None
    seq: int = 0


@dataclass
class Sample:
    """One workload sample."""

    ts: float
    ops_per_s: float
    ok: int
    fail: int
    info: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass
class Gate:
    """One gate's verdict."""

    name: str
    metric: str
    observed: Any
    threshold: str
    passed: bool | None
    explanation: str
    status: str = ""  # distlab.results.GATE_STATES; "" while pending


class LabState:
    """Everything the dashboard shows, built from events only."""

    def __init__(self) -> None:
        self.layers: dict[str, LayerInfo] = {}
        self.tests: dict[str, TestInfo] = {}
        self.seed: int | None = None
        self.run_dir: str = ""
        self.started: float | None = None
        self.ended: float | None = None
        self.verdict: str | None = None
        self.exit_code: int | None = None
        self.reason: str = ""
        self.now: float = 0.0  # the latest event's ts: the model's clock
        self.first: float | None = None  # the first event's ts: origin of the fault timeline
        self.nodes: dict[str, NodeInfo] = {}
        self.cluster: str | None = None  # the cluster the node table shows (the latest)
        self.links: dict[tuple[str, str], dict[str, Any]] = {}
        self.partition: dict[str, Any] | None = None
        self.faults: dict[int, FaultWindow] = {}  # by occurrence (FaultWindow.seq)
        self._fault_seq = 0
        self._open_faults: dict[str, list[int]] = {}  # fault id -> open occurrences, oldest first
        self.samples: deque[Sample] = deque(maxlen=THROUGHPUT_WINDOW)
        self.totals = {"ok": 0, "fail": 0, "info": 0}
        self.checks: dict[str, tuple[str, str]] = {}
        # checker -> the test whose history it judged last: a test that passes although
        # its checker said invalid expected that (it asserts the checker finds a bug).
        self._check_tests: dict[str, str] = {}
        self.gates: dict[str, Gate] = {}
        self.metrics: dict[tuple[str, str], tuple[Any, str]] = {}
        self.logs: deque[tuple[float, str, str]] = deque(maxlen=LOG_KEEP)
        self.logs_total = 0  # log events ever seen (the deque keeps only the last ones)
        self.events_seen = 0
        self.dirty: set[str] = set()
        self.dirty_tests: set[str] = set()
        self.dirty_nodes: set[str] = set()

    # -- folding events ------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Fold one event into the model."""
        self.events_seen += 1
        ts = event.ts
        if self.first is None:
            self.first = ts
        if ts > self.now:
            self.now = ts
        match event:
            case RunStart():
                self._run_start(event)
            case RunEnd():
                self._run_end(event)
            case LayerStart():
                self._layer_start(event)
            case LayerEnd():
                layer = self._layer(event.layer)
                layer.status, layer.ended, layer.reason = event.outcome, ts, event.reason
                self.dirty.add("layers")
            case Collect():
                self._collect(event)
            case TestStart():
                self.set_outcome(self._test(event.layer, event.nodeid), "running")
            case TestEnd():
                self._test_end(event)
            case Metric():
                self.metrics[(event.layer, event.name)] = (event.value, event.unit)
                self.dirty.add("metrics")
            case NodeStateChanged():
                self._node_state(event)
            case NodeSample():
                self._node_sample(event)
            case NodeRole():
                node = self._node(event.node)
                node.role, node.term, node.leader = event.role, event.term, event.leader
                self.dirty.add("nodes")
            case LinkState():
                self._link_state(event)
            case PartitionChanged():
                self._partition(event)
            case FaultStart():
                self._fault_start(event)
            case FaultEnd():
                self._fault_end(event.id, ts)
            case WorkloadSample():
                self._workload_sample(event)
            case CheckVerdict():
                self.checks[event.checker] = (event.verdict, event.detail)
                self._check_tests[event.checker] = event.nodeid
                self.dirty.add("checks")
            case GateResult():
                self.gates[event.name] = Gate(
                    event.name,
                    event.metric or event.name,
                    event.observed,
                    event.threshold,
                    event.passed,
                    event.explanation,
                    event.status or _v1_gate_state(event),
                )
                self.dirty.add("gates")
            case Log():
                self.logs.append((ts, event.level, event.message))
                self.logs_total += 1
                self.dirty.add("logs")

    def take_dirty(self) -> tuple[set[str], set[str], set[str]]:
        """What changed since the last call: (areas, test ids, node ids); resets them."""
        out = (self.dirty, self.dirty_tests, self.dirty_nodes)
        self.dirty, self.dirty_tests, self.dirty_nodes = set(), set(), set()
        return out

    def set_outcome(self, test: TestInfo, outcome: str) -> None:
        """Change a test's outcome and its layer's tally together."""
        tally = self._layer(test.layer).tally
        if test.outcome in tally:
            tally[test.outcome] -= 1
        test.outcome = outcome
        tally[outcome] = tally.get(outcome, 0) + 1

    def _new_test(self, layer: LayerInfo, nodeid: str) -> TestInfo:
        test = layer.tests[nodeid] = self.tests[nodeid] = TestInfo(nodeid, layer.name)
        layer.tally["pending"] += 1
        self.dirty.add("tree")
        return test

    def _layer(self, name: str) -> LayerInfo:
        layer = self.layers.get(name)
        if layer is None:
            layer = self.layers[name] = LayerInfo(name)
            self.dirty.add("tree")
        return layer

    def _run_start(self, e: RunStart) -> None:
        self.seed = e.seed
        self.run_dir = e.run_dir
        self.started, self.ended = e.ts, None
        self.verdict, self.exit_code, self.reason = None, None, ""
        self.gates.clear()
        for name in e.layers:
            self._layer(name)
        self.dirty.update({"run", "gates", "layers"})

    def _run_end(self, e: RunEnd) -> None:
        self.ended = e.ts
        self.verdict = e.verdict
        self.exit_code = e.exit_code
        self.reason = e.reason
        for layer in self.layers.values():
            if layer.status == "running":
                layer.status = "stopped"
            for t in layer.tests.values():
                if t.outcome == "running":
                    self.set_outcome(t, "pending")
                    self.dirty_tests.add(t.nodeid)
        self.dirty.update({"run", "gates", "layers"})

    def _layer_start(self, e: LayerStart) -> None:
        layer = self._layer(e.layer)
        layer.attempt = e.attempt
        layer.status = "running"
        if layer.attempt == 0:
            layer.started, layer.ended, layer.reason = e.ts, None, ""
        self.dirty.add("layers")

    def _collect(self, e: Collect) -> None:
        layer = self._layer(e.layer)
        for item in e.tests:
            test = layer.tests.get(item.nodeid)
            if test is None:
                test = self._new_test(layer, item.nodeid)
            test.file = item.file or test.file
            test.line = item.line if item.line is not None else test.line
            test.markers = item.markers
        self.dirty.add("layers")

    def _test(self, layer_name: str, nodeid: str) -> TestInfo:
        layer = self._layer(layer_name)
        test = layer.tests.get(nodeid)
        if test is None:
            test = self._new_test(layer, nodeid)
        self.dirty_tests.add(nodeid)
        self.dirty.add("layers")
        return test

    def _test_end(self, e: TestEnd) -> None:
        test = self._test(e.layer, e.nodeid)
        self.set_outcome(test, e.outcome)
        test.duration_s = e.duration_s
        test.message = e.message
        test.longrepr = e.longrepr
        test.stdout = e.stdout
        test.stderr = e.stderr
        if e.file:
            test.file = e.file
        if e.line is not None:
            test.line = e.line
        if e.outcome in ("passed", "xfailed"):
            for checker, nodeid in self._check_tests.items():
                verdict, detail = self.checks.get(checker, ("", ""))
                if nodeid == e.nodeid and verdict == "invalid":
                    self.checks[checker] = (EXPECTED_INVALID, detail)
                    self.dirty.add("checks")

    def _node(self, node_id: str) -> NodeInfo:
        node = self.nodes.get(node_id)
        if node is None:
            node = self.nodes[node_id] = NodeInfo(node_id)
            self.dirty.add("nodes")
        self.dirty_nodes.add(node_id)
        return node

    def _node_state(self, e: NodeStateChanged) -> None:
        if e.cluster and e.cluster != self.cluster:
            # A test's fresh cluster reuses the ids n1..nN: show it, not a mix with the last.
            if self.cluster is not None:
                self.nodes.clear()
                self.links.clear()
                self.partition = None
                self.dirty.update({"nodes", "network"})
            self.cluster = e.cluster
        node = self._node(e.node)
        state = e.state or node.state
        if state == "up" and node.state not in ("up", "paused"):
            if node.up_since is not None:
                node.restarts += 1
            node.up_since = e.ts
        node.state = state
        if state in ("down", "crashed"):
            # No process, no figures: stale ones would read as a live node.
            node.role, node.cpu_percent, node.rss_bytes, node.fds, node.term = (
                "",
                None,
                None,
                None,
                None,
            )
        node.pid = e.pid if e.pid is not None else node.pid
        node.exit_code = e.exit_code
        node.signal = e.signal
        self.dirty.add("nodes")

    def _node_sample(self, e: NodeSample) -> None:
        node = self._node(e.node)
        node.cpu_percent = e.cpu_percent
        node.rss_bytes = e.rss_bytes
        node.fds = e.fds
        if e.pid is not None:
            node.pid = e.pid
        self.dirty.add("nodes")

    def _link_state(self, e: LinkState) -> None:
        key = (e.src, e.dst)
        if e.faults:
            self.links[key] = dict(e.faults)
        else:
            self.links.pop(key, None)
        self.dirty.add("network")

    def _partition(self, e: PartitionChanged) -> None:
        self.partition = (
            None
            if not e.groups and not e.cut
            else {
                "shape": e.shape or "custom",
                "groups": [list(g) for g in e.groups],
                "cut": [tuple(c) for c in e.cut],
            }
        )
        self.dirty.add("network")
        self._net_partition(e)

    def _net_partition(self, e: PartitionChanged) -> None:
        """A partition made on the network directly (a distributed-layer test calling
        ``cluster.partition``) is a fault window too; the nemesis's own partitions
        arrive as FaultStart and are not shown twice."""
        for key in self._open_faults.pop(NET_PARTITION_ID, []):
            if key in self.faults:
                self.faults[key].end = e.ts  # healed, or replaced by a new shape
                self.dirty.add("faults")
        by_nemesis = any(
            w.fault == "partition" and w.end is None and w.id != NET_PARTITION_ID
            for w in self.faults.values()
        )
        if (e.groups or e.cut) and not by_nemesis:
            groups = " | ".join(",".join(g) for g in e.groups) or f"{len(e.cut)} links cut"
            params = {"shape": e.shape or "custom", "mode": e.mode}
            self._open_window(FaultWindow(NET_PARTITION_ID, "partition", [groups], params, e.ts))

    def _fault_start(self, e: FaultStart) -> None:
        if e.fault == "partition":
            # The nemesis changes the network first, then announces the fault: the
            # window opened for that change a moment ago is this fault's own.
            for key in self._open_faults.pop(NET_PARTITION_ID, []):
                window = self.faults.get(key)
                if window is not None and window.start >= e.ts - NET_PARTITION_SAME_S:
                    del self.faults[key]
                elif window is not None:
                    window.end = e.ts
        self._open_window(FaultWindow(e.id, e.fault, list(e.target), dict(e.params), e.ts))

    def _open_window(self, window: FaultWindow) -> None:
        self._fault_seq += 1
        window.seq = self._fault_seq
        self.faults[window.seq] = window
        self._open_faults.setdefault(window.id, []).append(window.seq)
        if len(self.faults) > TIMELINE_KEEP:
            # Drop the oldest ended window; an active one stays however old.
            old = next((k for k, w in self.faults.items() if w.end is not None), None)
            del self.faults[old if old is not None else next(iter(self.faults))]
        self.dirty.add("faults")

    def _fault_end(self, fault_id: str, ts: float) -> None:
        open_keys = self._open_faults.get(fault_id)
        if not open_keys:
            return
        window = self.faults.get(open_keys.pop(0))
        if not open_keys:
            del self._open_faults[fault_id]
        if window is not None and window.end is None:
            window.end = ts
            self.dirty.add("faults")

    def _workload_sample(self, e: WorkloadSample) -> None:
        sample = Sample(e.ts, e.ops_per_s, e.ok, e.fail, e.info, e.p50_ms, e.p95_ms, e.p99_ms)
        self.samples.append(sample)
        for k in self.totals:
            self.totals[k] += getattr(sample, k)
        self.dirty.add("throughput")

    def reset_outcomes(self) -> None:
        """Before a fresh full run: every known test back to pending, gates cleared."""
        for test in self.tests.values():
            if test.outcome != "pending":
                self.set_outcome(test, "pending")
                test.duration_s = None
                test.message = test.longrepr = test.stdout = test.stderr = ""
                self.dirty_tests.add(test.nodeid)
        for layer in self.layers.values():
            layer.status, layer.started, layer.ended, layer.reason = "idle", None, None, ""
        self.gates.clear()
        self.verdict = self.exit_code = None
        self.dirty.update({"layers", "gates", "run"})

    # -- questions the widgets ask -------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Counts over every layer."""
        total = dict.fromkeys((*TALLY_KEYS, "total"), 0)
        for layer in self.layers.values():
            for k, v in layer.counts().items():
                total[k] += v
        return total

    def elapsed(self) -> float | None:
        """Seconds since the run started, by the events' clock."""
        if self.started is None:
            return None
        return max(0.0, (self.ended or self.now) - self.started)

    def eta(self) -> float | None:
        """Seconds left at the pace so far (None before the first result or after the end)."""
        elapsed = self.elapsed()
        c = self.counts()
        done = c["total"] - c["pending"] - c["running"]
        if self.ended is not None or not elapsed or done <= 0 or c["total"] <= done:
            return None
        return elapsed / done * (c["total"] - done)

    def failures(self) -> list[TestInfo]:
        """Failing tests in layer order."""
        return [t for layer in self.ordered_layers() for t in layer.tests.values() if t.failing]

    def ordered_layers(self) -> list[LayerInfo]:
        """Layers in the usual order, unknown ones after."""
        rank = {n: i for i, n in enumerate(LAYERS)}
        return sorted(self.layers.values(), key=lambda lay: rank.get(lay.name, len(rank)))

    def overall_verdict(self) -> str | None:
        """pass / fail from the gates (and the run's own verdict once it ended)."""
        if self.verdict is not None:
            return self.verdict
        if any(g.status == "failed" for g in self.gates.values()):
            return "fail"
        return None

    def error_rates(self) -> tuple[float, float]:
        """(fail, info) as fractions of completed ops so far."""
        total = sum(self.totals.values())
        if not total:
            return 0.0, 0.0
        return self.totals["fail"] / total, self.totals["info"] / total

    def active_faults(self) -> list[FaultWindow]:
        return [f for f in self.faults.values() if f.end is None]


def _v1_gate_state(event: GateResult) -> str:
    """A v1 gate event's state: it had only ``passed``, and called "not evaluated" a pass."""
    if event.explanation.startswith("not evaluated: "):
        return "not-evaluated"
    return "failed" if event.passed is False else "passed" if event.passed else ""
