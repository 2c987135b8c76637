"""The event stream's vocabulary: one frozen dataclass per event kind.

These classes are the contract between everything that produces events (the
pytest plugin, the runner, the cluster, the net, the nemesis, workloads, the
lab) and everything that reads them (the dashboard, ``--ci`` progress lines,
replay, the runner's live view). Consumers ``match`` on the class, so a
renamed field is a type error at the consumer, never a silent ``""``.

Every field has a default, so a reader can still decode an event that an
older producer wrote with fewer fields; fields a newer producer added are
ignored by an older reader. ``distlab.events`` turns these into JSON lines
and back. docs/events.md is the field reference; keep it in step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar


def _now() -> float:
    return time.time()


@dataclass(frozen=True, kw_only=True)
class Event:
    """What every event has: the wall-clock time it was made at."""

    kind: ClassVar[str] = ""
    ts: float = field(default_factory=_now)


@dataclass(frozen=True, kw_only=True)
class LayerEvent(Event):
    """An event about one layer. Producers inside a test may leave ``layer``
    empty: the runner's listener fills it in from the endpoint it came by."""

    layer: str = ""


# -- the run and its layers ----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunStart(Event):
    kind: ClassVar[str] = "run.start"
    seed: int | None = None
    layers: tuple[str, ...] = ()
    run_dir: str = ""
    config: str = ""


@dataclass(frozen=True, kw_only=True)
class RunEnd(Event):
    kind: ClassVar[str] = "run.end"
    verdict: str = "error"  # pass | fail | error
    exit_code: int | None = None
    duration_s: float = 0.0
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class LayerStart(LayerEvent):
    kind: ClassVar[str] = "layer.start"
    attempt: int = 0  # 0 the first run, 1.. reruns of the failed tests


@dataclass(frozen=True, kw_only=True)
class LayerEnd(LayerEvent):
    kind: ClassVar[str] = "layer.end"
    outcome: str = "error"  # distlab.results.LAYER_OUTCOMES
    counts: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class CollectedTest:
    """One test a layer collected (part of ``Collect``, not an event itself)."""

    nodeid: str = ""
    file: str = ""
    line: int | None = None
    markers: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CollectError:
    """A file that failed to collect (part of ``Collect``)."""

    nodeid: str = ""
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class Collect(LayerEvent):
    kind: ClassVar[str] = "collect"
    tests: tuple[CollectedTest, ...] = ()
    errors: tuple[CollectError, ...] = ()
    rootdir: str = ""  # what the node ids are relative to


@dataclass(frozen=True, kw_only=True)
class TestStart(LayerEvent):
    __test__: ClassVar[bool] = False  # an event, not a pytest test class
    kind: ClassVar[str] = "test.start"
    nodeid: str = ""


@dataclass(frozen=True, kw_only=True)
class TestEnd(LayerEvent):
    __test__: ClassVar[bool] = False
    kind: ClassVar[str] = "test.end"
    nodeid: str = ""
    outcome: str = "error"  # distlab.results.TEST_OUTCOMES
    duration_s: float | None = None
    message: str = ""
    longrepr: str = ""  # longrepr, stdout and stderr only on failure
    stdout: str = ""
    stderr: str = ""
    file: str = ""
    line: int | None = None
    lab_error: str = ""  # the test hit a distlab.errors.LabError


@dataclass(frozen=True, kw_only=True)
class Metric(LayerEvent):
    kind: ClassVar[str] = "metric"
    nodeid: str = ""
    name: str = ""
    value: float | None = None
    unit: str = ""
    tags: dict[str, str] = field(default_factory=dict)


# -- the cluster and its network ------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NodeStateChanged(Event):
    kind: ClassVar[str] = "node.state"
    node: str = ""
    state: str = ""  # starting | up | down | paused | crashed
    pid: int | None = None
    exit_code: int | None = None
    signal: str | None = None
    port: int | None = None  # the client port
    cluster: str = ""
    log: str = ""


@dataclass(frozen=True, kw_only=True)
class NodeSample(Event):
    kind: ClassVar[str] = "node.sample"
    node: str = ""
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    fds: int | None = None
    threads: int | None = None
    pid: int | None = None
    state: str = ""
    cluster: str = ""


@dataclass(frozen=True, kw_only=True)
class NodeRole(Event):
    kind: ClassVar[str] = "node.role"
    node: str = ""
    role: str = ""
    term: int | None = None
    leader: str | None = None


@dataclass(frozen=True, kw_only=True)
class LinkState(Event):
    kind: ClassVar[str] = "link.state"
    src: str = ""
    dst: str = ""
    faults: dict[str, Any] = field(default_factory=dict)  # empty: the link is healthy


@dataclass(frozen=True, kw_only=True)
class PartitionChanged(Event):
    kind: ClassVar[str] = "partition"
    shape: str | None = None  # None (with no groups and no cut): fully healed
    groups: tuple[tuple[str, ...], ...] = ()
    cut: tuple[tuple[str, ...], ...] = ()  # directed (src, dst) pairs
    mode: str | None = None  # drop | reject


# -- faults, workloads, verdicts ------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FaultStart(Event):
    kind: ClassVar[str] = "fault.start"
    id: str = ""
    fault: str = ""
    target: tuple[str, ...] = ()  # the node ids it hit ("db" for database faults)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class FaultEnd(Event):
    kind: ClassVar[str] = "fault.end"
    id: str = ""
    fault: str = ""


@dataclass(frozen=True, kw_only=True)
class WorkloadSample(Event):
    kind: ClassVar[str] = "workload.sample"
    ops_per_s: float = 0.0
    ok: int = 0
    fail: int = 0
    info: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    lag_ms: float | None = None  # open loop only: how late the latest op started
    workload: str = ""


@dataclass(frozen=True, kw_only=True)
class CheckVerdict(LayerEvent):
    kind: ClassVar[str] = "check.verdict"
    checker: str = ""
    verdict: str = "unknown"  # valid | invalid | unknown
    detail: str = ""
    nodeid: str = ""  # the test that ran the check ("" outside pytest: the lab)
    timeline: str = ""  # the counterexample's HTML timeline, when the checker wrote one


@dataclass(frozen=True, kw_only=True)
class GateResult(Event):
    kind: ClassVar[str] = "gate"
    name: str = ""
    metric: str = ""
    observed: Any = None
    threshold: str = ""
    passed: bool | None = None
    explanation: str = ""
    status: str = ""  # distlab.results.GATE_STATES ("" from a v1 producer: see ``passed``)


@dataclass(frozen=True, kw_only=True)
class Log(Event):
    kind: ClassVar[str] = "log"
    level: str = "info"  # info | warning | error
    message: str = ""
    source: str = ""


EVENT_TYPES: tuple[type[Event], ...] = (
    RunStart,
    RunEnd,
    LayerStart,
    LayerEnd,
    Collect,
    TestStart,
    TestEnd,
    Metric,
    NodeStateChanged,
    NodeSample,
    NodeRole,
    LinkState,
    PartitionChanged,
    FaultStart,
    FaultEnd,
    WorkloadSample,
    CheckVerdict,
    GateResult,
    Log,
)
BY_KIND: dict[str, type[Event]] = {cls.kind: cls for cls in EVENT_TYPES}
