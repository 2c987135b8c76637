"""The runner on real pytest subprocesses: outcomes, reruns, timeouts,
parallel layers, stopping, and nothing left running."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest
import xmlschema
from throwaway_suites import DATA, PYTEST_ARGS

from distlab.config.loader import load
from distlab.errors import LabError, UsageError
from distlab.events import (
    CheckVerdict,
    Event,
    LayerStart,
    RunEnd,
    RunStart,
    TestEnd,
    TestStart,
    read_events,
)
from distlab.runner import Run


def write_config(tmp_path: Path, layers: dict[str, dict[str, Any]], gates: str = "") -> Path:
    """A config whose layers run the throwaway suites under tests/data."""
    lines = ["[project]", 'run_dir = "runs"', 'reports_dir = "reports"', ""]
    for order, (name, opts) in enumerate(layers.items(), start=1):
        lines += [f"[suites.{name}]", f"order = {order}"]
        suites = opts.pop("suite")
        paths = [str(DATA / s) for s in ([suites] if isinstance(suites, str) else suites)]
        lines.append(f"paths = {json.dumps(paths)}")
        lines.append(f"args = {json.dumps(PYTEST_ARGS)}")
        for key, value in opts.items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + gates, encoding="utf-8")
    return path


def recorded_pids_alive(run_dir: Path) -> list[str]:
    """Processes the run recorded (pytest and its children) that still run."""
    alive = []
    pids = run_dir / "pids"
    for line in pids.read_text().splitlines() if pids.exists() else []:
        pid, created = int(line.split()[0]), float(line.split()[1])
        try:
            if abs(psutil.Process(pid).create_time() - created) < 0.01:
                alive.append(line)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_a_passing_layer_yields_tests_metrics_and_summary(tmp_path: Path) -> None:
    config = load(write_config(tmp_path, {"unit": {"suite": "suites_pass"}}))
    seen: list[Event] = []
    run = Run(config, seed=99, on_event=seen.append, record_history=False)
    result = run.execute()
    assert (result.exit_code, result.verdict) == (0, "pass")
    unit = result.layer("unit")
    assert unit is not None and unit.outcome == "passed"
    assert unit.counts()["passed"] == 4 and unit.counts()["skipped"] == 1
    by_name = {t.name: t for t in unit.tests}
    assert by_name["test_skipped"].skip_reason == "not on this platform"
    assert by_name["test_in_class"].classname == "tests.data.suites_pass.check_pass.TestGroup"
    assert by_name["test_adds"].file == "tests/data/suites_pass/check_pass.py"
    assert by_name["test_adds"].line == 6
    assert sorted((m.value, m.tags["op"]) for m in unit.metrics) == [(10.0, "put"), (20.0, "put")]
    # The run directory: the same events the callback saw, the report, the summary.
    assert run.run_dir is not None and run.run_dir.name.endswith("-99")
    assert list(read_events(run.run_dir / "events.jsonl")) == seen
    assert isinstance(seen[0], RunStart) and seen[0].seed == 99
    assert isinstance(seen[-1], RunEnd) and seen[-1].exit_code == 0
    assert (run.run_dir / "layers" / "unit.json").exists()
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert summary["seed"] == 99 and summary["layers"][0]["counts"]["passed"] == 4
    assert recorded_pids_alive(run.run_dir) == []


def test_a_test_that_passes_on_rerun_is_flaky_not_failed(tmp_path: Path) -> None:
    config = load(write_config(tmp_path, {"concurrency": {"suite": "suites_flaky", "reruns": 2}}))
    seen: list[Event] = []
    result = Run(config, on_event=seen.append, record_history=False).execute()
    layer = result.layer("concurrency")
    assert layer is not None and layer.outcome == "passed", layer.reason
    flaky = [t for t in layer.tests if t.outcome == "flaky"]
    assert [t.name for t in flaky] == ["test_flaky"]
    assert len(flaky[0].attempts) == 1
    assert "first attempt fails on purpose" in flaky[0].attempts[0].message
    assert result.exit_code == 0
    # Only the failed test was rerun, once: the second rerun was not needed.
    starts = [e.attempt for e in seen if isinstance(e, LayerStart)]
    assert starts == [0, 1]
    reruns = [e for e in seen if isinstance(e, TestStart)]
    assert sum(1 for e in reruns if e.nodeid.endswith("test_stable")) == 1
    assert any(isinstance(e, TestEnd) and e.outcome == "flaky" for e in seen)


def test_a_hung_layer_is_killed_at_its_timeout_with_nothing_left(tmp_path: Path) -> None:
    config = load(write_config(tmp_path, {"unit": {"suite": "suites_hang", "timeout_s": 10}}))
    run = Run(config, record_history=False)
    result = run.execute()
    layer = result.layer("unit")
    assert layer is not None and layer.outcome == "timeout"
    assert "killed after 10s" in layer.reason and "test_hangs" in layer.reason
    outcomes = {t.name: t.outcome for t in layer.tests}
    assert outcomes == {"test_quick": "passed", "test_hangs": "error"}
    assert result.exit_code == 1 and "required layer unit timeout" in result.reason
    assert run.run_dir is not None
    child = int((run.run_dir / "hang-child.pid").read_text())
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
    assert recorded_pids_alive(run.run_dir) == []
    xmlschema.XMLSchema(DATA / "junit-xunit10.xsd").validate(run.run_dir / "junit.xml")


def test_broken_layers_are_reported_as_what_they_are(tmp_path: Path) -> None:
    layers: dict[str, dict[str, Any]] = {
        "unit": {"suite": "suites_exit"},
        "concurrency": {"suite": "suites_signal"},
        "distributed": {"suite": "suites_collect_error"},
        "chaos": {"suite": "suites_empty"},
    }
    for opts in layers.values():
        opts["required"] = False
    config = load(write_config(tmp_path, layers))
    result = Run(config, record_history=False).execute()
    got = {layer.layer: (layer.outcome, layer.reason) for layer in result.layers}
    assert got["unit"][0] == "crashed"
    assert "exited with code 3" in got["unit"][1] and "test_exits" in got["unit"][1]
    assert got["concurrency"][0] == "crashed" and "SIGKILL" in got["concurrency"][1]
    assert got["distributed"][0] == "error"
    assert "distlab_no_such_module" in got["distributed"][1]
    assert got["chaos"] == ("empty", f"collected no tests from {DATA / 'suites_empty'}")
    # What finished before the crash is kept; the test that killed pytest is an error.
    unit = result.layer("unit")
    assert unit is not None
    assert {t.name: t.outcome for t in unit.tests} == {
        "test_before": "passed",
        "test_exits": "error",
    }
    # Optional layers only: the run passes, but never as "0 tests passed".
    assert result.exit_code == 0
    # The JUnit of a run full of broken layers is still schema-valid XML.
    xmlschema.XMLSchema(DATA / "junit-xunit10.xsd").validate(tmp_path / "reports" / "junit.xml")


def test_a_failed_required_layer_stops_later_layers(tmp_path: Path) -> None:
    config = load(
        write_config(
            tmp_path, {"unit": {"suite": "suites_fail"}, "chaos": {"suite": "suites_pass"}}
        )
    )
    result = Run(config, record_history=False).execute()
    assert [(x.layer, x.outcome) for x in result.layers] == [
        ("unit", "failed"),
        ("chaos", "not-run"),
    ]
    chaos = result.layer("chaos")
    assert chaos is not None and chaos.reason == "not run: required layer unit failed"
    assert result.exit_code == 1


def test_parallel_layers_run_at_the_same_time(tmp_path: Path) -> None:
    config = load(
        write_config(
            tmp_path,
            {
                "unit": {"suite": "suites_rendezvous", "parallel": True},
                "concurrency": {"suite": "suites_rendezvous", "parallel": True},
            },
        )
    )
    result = Run(config, record_history=False).execute()
    assert [(x.layer, x.outcome) for x in result.layers] == [
        ("unit", "passed"),
        ("concurrency", "passed"),
    ], [x.reason for x in result.layers]


def test_an_invalid_history_is_a_failure_even_when_the_rerun_passes(tmp_path: Path) -> None:
    config = load(write_config(tmp_path, {"chaos": {"suite": "suites_invalid_once", "reruns": 2}}))
    seen: list[Event] = []
    result = Run(config, on_event=seen.append, record_history=False).execute()
    layer = result.layer("chaos")
    assert layer is not None and layer.outcome == "failed", layer.reason
    (test,) = layer.tests
    assert test.outcome == "failed" and layer.counts()["flaky"] == 0
    assert "linearizability: history INVALID; rerun 1 passed (linearizability=valid)" in (
        test.message
    )
    assert test.verdicts == ["linearizability=invalid"]
    assert result.exit_code == 1
    # The live view was told too: the rerun passed, but the last word is a failure.
    ends = [e for e in seen if isinstance(e, TestEnd) and e.nodeid == test.nodeid]
    assert [e.outcome for e in ends] == ["failed", "passed", "failed"]
    verdicts = [(e.nodeid, e.verdict) for e in seen if isinstance(e, CheckVerdict)]
    assert verdicts == [(test.nodeid, "invalid"), (test.nodeid, "valid")]


def test_a_background_run_stops_on_request_and_kills_its_tests(tmp_path: Path) -> None:
    config = load(write_config(tmp_path, {"unit": {"suite": "suites_hang"}}))
    hanging = threading.Event()

    def on_event(event: Event) -> None:
        if isinstance(event, TestStart) and event.nodeid.endswith("test_hangs"):
            hanging.set()

    run = Run(config, on_event=on_event, record_history=False)
    assert not run.running
    run.start()
    try:
        assert hanging.wait(60), "the hanging test never started"
        assert run.running
    finally:
        run.stop()
    result = run.wait(60)
    assert result is not None and (result.exit_code, result.verdict) == (130, "stopped")
    assert run.finished and not run.running and run.error is None
    layer = result.layer("unit")
    assert layer is not None and layer.outcome == "stopped"
    # The test that finished before the stop is kept, not lost with the layer.
    assert [(t.name, t.outcome) for t in layer.tests] == [("test_quick", "passed")]
    assert layer.reason.startswith("stopped after 1 test(s) while running")
    assert run.run_dir is not None and recorded_pids_alive(run.run_dir) == []


def test_single_tests_run_alone_and_orphans_of_a_dead_run_are_reaped(tmp_path: Path) -> None:
    config = load(write_config(tmp_path, {"unit": {"suite": "suites_pass"}}))
    # An orphan: a process recorded by an earlier run whose owner has exited.
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    old = tmp_path / "runs" / "20000101-000000-1"
    old.mkdir(parents=True)
    created = psutil.Process(orphan.pid).create_time()
    (old / "pids").write_text(f"{orphan.pid} {created:.3f} {gone.stdout.strip()} node n1\n")
    try:
        nodeid = f"{DATA / 'suites_pass' / 'check_pass.py'}::test_adds"
        run = Run(config, only={"unit": [nodeid]}, record_history=False)
        result = run.execute()
        assert orphan.wait(10) == -signal.SIGKILL
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()
    unit = result.layer("unit")
    assert unit is not None and [t.name for t in unit.tests] == ["test_adds"]
    assert run.reaped == [f"reaped orphan node n1 (pid {orphan.pid}) left by 20000101-000000-1"]


@pytest.mark.parametrize(
    ("layers", "gates", "arg", "message"),
    [
        ({"unit": {"suite": "suites_pass"}}, "", "unit,bogus", "--layers: 'bogus' is not a layer"),
        (
            {"unit": {"suite": "suites_pass"}},
            "",
            "chaos",
            "--layers: 'chaos' is not configured in",
        ),
        ({"unit": {"suite": "no_such_dir"}}, "", None, "paths: '"),
        (
            {"unit": {"suite": "suites_pass"}},
            '[gates]\n"chaos.pass_rate" = "== 1"\n',
            None,
            "names layer 'chaos', which has no [suites.chaos]",
        ),
    ],
)
def test_bad_input_is_a_usage_error_before_anything_runs(
    tmp_path: Path, layers: dict, gates: str, arg: str | None, message: str
) -> None:
    config = load(write_config(tmp_path, layers, gates))
    with pytest.raises(UsageError, match=re.escape(message)):
        Run(config, layers=arg)
    assert not (tmp_path / "runs").exists()


def test_an_unwritable_report_path_is_a_usage_error(tmp_path: Path) -> None:
    config = load(write_config(tmp_path, {"unit": {"suite": "suites_pass"}}))
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(UsageError, match=r"--junit-xml .*cannot create"):
        Run(config, junit_xml=blocker / "junit.xml")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(UsageError, match="is not writable"):
            Run(config, junit_xml=locked / "junit.xml")


def test_a_run_directory_that_cannot_be_made_is_a_lab_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"unit": {"suite": "suites_pass"}})
    path.write_text(path.read_text().replace('run_dir = "runs"', 'run_dir = "blocker/runs"'))
    (tmp_path / "blocker").write_text("a file where the runs directory should go")
    run = Run(load(path), record_history=False)
    with pytest.raises(LabError, match="cannot create the run directory under"):
        run.execute()
    assert run.finished and not run.running


def test_an_abort_on_fail_gate_stops_the_layers_after_its_own(tmp_path: Path) -> None:
    gates = (
        '[gates]\n"unit.latency_ms{op:put}" = { threshold = "max < 15", abort_on_fail = true }\n'
    )
    config = load(
        write_config(
            tmp_path,
            {"unit": {"suite": "suites_pass"}, "concurrency": {"suite": "suites_pass"}},
            gates,
        )
    )
    result = Run(config, record_history=False).execute()
    assert [(x.layer, x.outcome) for x in result.layers] == [
        ("unit", "passed"),
        ("concurrency", "not-run"),
    ]
    concurrency = result.layer("concurrency")
    assert concurrency is not None
    assert (
        concurrency.reason
        == "not run: gate unit.latency_ms{op:put} max < 15 failed and aborts the run"
    )
    assert [g.passed for g in result.gates] == [False]
    assert result.exit_code == 1 and "gate unit.latency_ms{op:put} max < 15 failed" in result.reason


def test_reports_that_cannot_be_written_at_the_end_make_the_run_an_error(tmp_path: Path) -> None:
    config = load(write_config(tmp_path, {"unit": {"suite": "suites_pass"}}))
    reports = tmp_path / "reports"

    def break_reports(event: Event) -> None:
        # Passed the start-up check, then the directory turns into a file.
        if isinstance(event, RunStart):
            reports.rmdir()
            reports.write_text("not a directory")

    run = Run(config, on_event=break_reports, record_history=False)
    result = run.execute()
    assert result.layer("unit") is not None and result.layers[0].outcome == "passed"
    assert (result.exit_code, result.verdict) == (3, "error")
    assert "is a file, not a directory" in result.reason
    assert run.run_dir is not None
    assert run.written == [run.run_dir / "summary.json", run.run_dir / "junit.xml"]
