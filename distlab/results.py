"""What a run produced, as plain data: tests, layers, metrics, gate verdicts.

The runner fills these in, the gates read them, the reports and the TUI
render them. ``summary.json`` is ``RunResult.to_dict()``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Test outcomes, the one list (the runner, reports, events and the dashboard use
# it). `flaky`: failed, then passed on a rerun.
OUTCOMES = ("passed", "failed", "error", "skipped", "flaky", "xfailed", "xpassed")
# The outcomes a layer's tally shows (``layer.end`` counts, the dashboard's
# tree); xfailed and xpassed are folded into the JSON and JUnit reports only.
COUNTED_OUTCOMES = ("passed", "failed", "flaky", "skipped", "error")
# What counts as "went wrong": reruns, the failure list, the exit code.
FAILING_OUTCOMES = frozenset({"failed", "error"})
# Layer outcomes. `empty`: collected nothing; `crashed`: pytest died; `timeout`: killed;
# `stopped`: the user stopped the run while it ran (its finished tests are kept).
LAYER_OUTCOMES = ("passed", "failed", "error", "timeout", "empty", "crashed", "stopped", "not-run")
# Gate states. Only `passed` is a pass. `not-evaluated`: its layer was selected but did
# not run (or was stopped part-way), so nothing was judged: the release is INCOMPLETE.
# `not-selected`: its layer was left out on purpose (--layers); `no-baseline`: a
# baseline-relative gate on a branch with no earlier passing run (this run may become
# the baseline). Neither of those two stops a pass, and neither is a pass.
GATE_STATES = ("passed", "failed", "not-evaluated", "not-selected", "no-baseline")


@dataclass
class Attempt:
    """One earlier failed attempt of a test that was rerun."""

    message: str = ""
    longrepr: str = ""
    duration_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    verdicts: list[str] = field(default_factory=list)  # checker=verdict, as announced


@dataclass
class TestResult:
    nodeid: str
    layer: str
    outcome: str
    duration_s: float = 0.0
    file: str | None = None
    line: int | None = None
    message: str = ""
    longrepr: str = ""
    stdout: str = ""
    stderr: str = ""
    skip_reason: str = ""
    markers: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    # ``checker=verdict`` for each history check the test announced (distlab.checks).
    verdicts: list[str] = field(default_factory=list)

    @property
    def classname(self) -> str:
        """JUnit classname: module path dotted, plus the class if any."""
        path, _, rest = self.nodeid.partition("::")
        module = path.removesuffix(".py").replace("/", ".")
        parts = rest.split("::")[:-1]
        return ".".join([module, *parts]) if parts else module

    @property
    def name(self) -> str:
        return self.nodeid.split("::")[-1]


@dataclass
class Metric:
    """One measurement from the ``metric`` fixture; a name may have many samples."""

    name: str
    value: float
    unit: str = ""
    nodeid: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class LayerResult:
    layer: str
    outcome: str = "not-run"
    required: bool = True
    duration_s: float = 0.0
    reason: str = ""
    tests: list[TestResult] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    report_path: str = ""
    # Where [suites.<layer>] is in the config file, so a report can point at it.
    config_line: int | None = None

    def counts(self) -> dict[str, int]:
        counts = {o: 0 for o in OUTCOMES}
        for t in self.tests:
            counts[t.outcome] = counts.get(t.outcome, 0) + 1
        return counts


@dataclass
class GateVerdict:
    name: str
    metric: str
    threshold: str
    observed: float | None
    passed: bool
    explanation: str
    abort_on_fail: bool = False
    config_line: int | None = None  # the gate's line in the config file
    status: str = ""  # GATE_STATES; derived from ``passed`` when not given

    def __post_init__(self) -> None:
        if not self.status:
            self.status = "passed" if self.passed else "failed"
        # Only an evaluated, satisfied gate is a pass, whatever the caller said.
        self.passed = self.status == "passed"


@dataclass
class RunResult:
    seed: int
    started: float
    finished: float = 0.0
    run_dir: str = ""
    config: str = "config.toml"
    branch: str = ""
    layers: list[LayerResult] = field(default_factory=list)
    gates: list[GateVerdict] = field(default_factory=list)
    exit_code: int = 0
    verdict: str = "pass"  # pass | fail | error
    reason: str = ""
    # The run's combined coverage (distlab.runner.coverage), when a layer measured any.
    coverage: dict[str, Any] = field(default_factory=dict)
    # A sharded run's share (distlab.runner.shard.ShardPlan.to_dict); empty when unsharded.
    shard: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return max(0.0, self.finished - self.started)

    def layer(self, name: str) -> LayerResult | None:
        return next((layer for layer in self.layers if layer.layer == name), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["duration_s"] = self.duration_s
        for layer_data, layer in zip(data["layers"], self.layers, strict=True):
            layer_data["counts"] = layer.counts()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        layers = []
        for ld in data.get("layers", []):
            tests = [
                TestResult(**{**t, "attempts": [Attempt(**a) for a in t.get("attempts", [])]})
                for t in ld.get("tests", [])
            ]
            metrics = [Metric(**m) for m in ld.get("metrics", [])]
            fields = {k: v for k, v in ld.items() if k not in ("tests", "metrics", "counts")}
            layers.append(LayerResult(**fields, tests=tests, metrics=metrics))
        gates = [GateVerdict(**g) for g in data.get("gates", [])]
        fields = {k: v for k, v in data.items() if k not in ("layers", "gates", "duration_s")}
        return cls(**fields, layers=layers, gates=gates)
