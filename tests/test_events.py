"""The typed event stream: every kind encodes and decodes, a real run writes only
events that decode, run directories of the previous (untyped, v1) format still
replay, and bad event lines are one-line errors, never a traceback."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from distlab import events
from distlab.config.loader import load
from distlab.events import EventDecodeError, ReadStats, decode, decode_line, encode, read_events
from distlab.runner import Run
from distlab.tui.state import LabState

DATA = Path(__file__).parent / "data"
V1_RUN = DATA / "runs" / "v1-unit-chaos"

# One populated example per kind: every field away from its default.
EXAMPLES: list[events.Event] = [
    events.RunStart(seed=7, layers=("unit", "chaos"), run_dir="/r", config="/c.toml"),
    events.RunEnd(verdict="fail", exit_code=1, duration_s=2.5, reason="gate x failed"),
    events.LayerStart(layer="unit", attempt=1),
    events.LayerEnd(layer="unit", outcome="failed", counts={"passed": 2}, duration_s=1, reason="r"),
    events.Collect(
        layer="unit",
        tests=(events.CollectedTest(nodeid="t.py::a", file="t.py", line=3, markers=("unit",)),),
        errors=(events.CollectError(nodeid="u.py", message="SyntaxError"),),
        rootdir="/src",
    ),
    events.TestStart(layer="unit", nodeid="t.py::a"),
    events.TestEnd(
        layer="unit",
        nodeid="t.py::a",
        outcome="failed",
        duration_s=0.5,
        message="boom",
        longrepr="tb",
        stdout="o",
        stderr="e",
        file="t.py",
        line=3,
        lab_error="port clash",
    ),
    events.Metric(
        layer="perf", nodeid="t::p", name="p99_ms", value=1.5, unit="ms", tags={"f": "put"}
    ),
    events.NodeStateChanged(
        node="n1",
        state="crashed",
        pid=9,
        exit_code=-9,
        signal="SIGKILL",
        port=7001,
        cluster="c",
        log="l",
    ),
    events.NodeSample(
        node="n1", cpu_percent=3.5, rss_bytes=10, fds=4, threads=2, pid=9, state="up", cluster="c"
    ),
    events.NodeRole(node="n1", role="leader", term=3, leader="n1"),
    events.LinkState(src="n1", dst="n2", faults={"partition": "drop", "latency_ms": 100}),
    events.PartitionChanged(
        shape="bridge", groups=(("n1",), ("n2", "n3")), cut=(("n1", "n2"),), mode="drop"
    ),
    events.FaultStart(id="s/f1", fault="kill", target=("n2",), params={"signal": "SIGKILL"}),
    events.FaultEnd(id="s/f1", fault="kill"),
    events.WorkloadSample(
        ops_per_s=10, ok=8, fail=1, info=1, p50_ms=1, p95_ms=2, p99_ms=3, lag_ms=0.5, workload="w"
    ),
    events.CheckVerdict(
        layer="chaos",
        checker="linearizability",
        verdict="invalid",
        detail="key x",
        nodeid="t::c",
        timeline="tests/t/history.timeline.html",
    ),
    events.GateResult(
        name="g",
        metric="m",
        observed=0.5,
        threshold="> 1",
        passed=False,
        explanation="e",
        status="failed",
    ),
    events.Log(level="error", message="m", source="runner"),
]


def test_every_kind_has_an_example_and_round_trips() -> None:
    assert {type(e) for e in EXAMPLES} == set(events.EVENT_TYPES)
    for event in EXAMPLES:
        line = encode(event)
        obj = json.loads(line)
        assert (obj["v"], obj["kind"]) == (events.SCHEMA_VERSION, event.kind)
        assert decode_line(line) == event
        for f in dataclasses.fields(event):
            if f.name != "ts":  # the examples set every other field away from its default
                default = f.default_factory() if callable(f.default_factory) else f.default
                assert getattr(event, f.name) != default, (event.kind, f.name)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {"kind": "test.end", "line": "3"},
            "test.end event: field 'line' must be a whole number, got '3'",
        ),
        (
            {"kind": "run.start", "layers": "unit"},
            "run.start event: field 'layers' must be a list, got 'unit'",
        ),
        (
            {"kind": "gate", "passed": "yes"},
            "gate event: field 'passed' must be true or false, got 'yes'",
        ),
        (
            {"kind": "metric", "value": True},
            "metric event: field 'value' must be a number, got True",
        ),
        (
            {"kind": "collect", "tests": [{"nodeid": 5}]},
            "collect event: field 'tests' has an item whose field 'nodeid' must be a string, got 5",
        ),
        ({"kind": "node.sampel"}, "unknown event kind 'node.sampel'"),
        ({"kind": "log", "v": 3}, "log event has schema version 3; this distlab reads 1 and 2"),
        (["log"], "an event must be a JSON object, got ['log']"),
    ],
)
def test_a_bad_event_is_a_one_line_error_naming_the_field(obj: Any, message: str) -> None:
    with pytest.raises(EventDecodeError) as e:
        decode(obj)
    assert str(e.value) == message


def test_a_run_directory_of_the_previous_format_decodes_and_replays() -> None:
    # Written by distlab 0.1 (untyped events, v1): `distlab --ci --layers unit,chaos --seed 7`.
    stats = ReadStats()
    seen = list(read_events(V1_RUN / "events.jsonl", stats))
    assert stats.skipped == 0, stats.first_problem
    assert {json.loads(line)["v"] for line in (V1_RUN / "events.jsonl").open()} == {1}
    kinds = {e.kind for e in seen}
    assert kinds == set(events.BY_KIND) - {"node.role"}  # the lab alone polled roles in v1
    # The dashboard folds it into the counts the run's own summary recorded.
    state = LabState()
    for event in seen:
        state.apply(event)
    summary = json.loads((V1_RUN / "summary.json").read_text())
    for layer in summary["layers"]:
        counts = state.layers[layer["layer"]].counts()
        assert counts["passed"] == layer["counts"]["passed"]
        assert counts["skipped"] == layer["counts"]["skipped"]
    assert state.verdict == summary["verdict"] == "pass"
    assert any(f.fault == "kill" and f.target == ["n2"] for f in state.faults.values())
    done = subprocess.run(
        [sys.executable, "-m", "distlab.cli.main", "replay", "--plain", str(V1_RUN)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines()[-1].startswith("distlab: PASS (exit 0) in 212.4s")


def test_replay_says_how_many_lines_it_could_not_read(tmp_path: Path) -> None:
    lines = (V1_RUN / "events.jsonl").read_bytes().splitlines(keepends=True)
    bad = tmp_path / "events.jsonl"
    bad.write_bytes(
        lines[0]
        + b'{"kind": "test.end", "duration_s": "slow"}\n'
        + b"\xff\xfe\n"
        + b"".join(lines[1:])
    )
    done = subprocess.run(
        [sys.executable, "-m", "distlab.cli.main", "replay", "--plain", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stderr.strip() == (
        "distlab: warning: 2 line(s) could not be read as events; first: "
        f"{bad}:2: test.end event: field 'duration_s' must be a number, got 'slow'"
    )
    assert "Traceback" not in done.stdout + done.stderr


def test_a_file_of_garbage_is_a_usage_error(tmp_path: Path) -> None:
    junk = tmp_path / "events.jsonl"
    junk.write_bytes(b"\x00\x01 not events\n")
    done = subprocess.run(
        [sys.executable, "-m", "distlab.cli.main", "replay", "--plain", str(junk)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"distlab: error: {junk}: holds no distlab events (first: {junk}:1: not JSON"
    )
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_real_run_writes_every_kind_and_only_events_that_decode(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "\n".join(
            [
                "[project]",
                'run_dir = "runs"',
                'reports_dir = "reports"',
                "[suites.distributed]",
                f"paths = [{json.dumps(str(DATA / 'suites_events'))}]",
                'args = ["-p", "no:cacheprovider", "-o", "python_files=check_*.py"]',
                "[gates]",
                '"distributed.pass_rate" = "== 1"',
            ]
        )
        + "\n"
    )
    seen: list[events.Event] = []
    result = Run(load(config), seed=5, on_event=seen.append, record_history=False).execute()
    assert result.exit_code == 0, result.reason
    assert result.run_dir is not None
    stats = ReadStats()
    on_disk = list(read_events(Path(result.run_dir) / "events.jsonl", stats))
    assert stats.skipped == 0, stats.first_problem
    assert on_disk == seen
    # node.role comes from whoever polls the system's roles (the lab), not from suites.
    assert {e.kind for e in on_disk} == set(events.BY_KIND) - {"node.role"}
