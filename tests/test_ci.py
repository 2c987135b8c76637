"""`distlab --ci`, `distlab list` and `distlab replay` as a user runs them:
real subprocesses, real exit codes, real files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from junitparser import JUnitXml
from throwaway_suites import DATA, PYTEST_ARGS, sigterm_once_hanging

PASS = {"unit": {"suite": "suites_pass"}}


def write_config(tmp_path: Path, layers: dict[str, dict[str, Any]], gates: str = "") -> Path:
    lines = ["[project]", 'run_dir = "runs"', 'reports_dir = "reports"', ""]
    for order, (name, opts) in enumerate(layers.items(), start=1):
        opts = dict(opts)
        lines += [f"[suites.{name}]", f"order = {order}"]
        lines.append(f"paths = {json.dumps([str(DATA / opts.pop('suite'))])}")
        lines.append(f"args = {json.dumps(PYTEST_ARGS)}")
        lines += [f"{k} = {json.dumps(v)}" for k, v in opts.items()]
        lines.append("")
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + gates, encoding="utf-8")
    return path


def distlab(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "distlab.cli.main", *args],
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1", "DISTLAB_BRANCH": "test-branch", **env},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


def test_exit_0_writes_valid_junit_summary_and_a_replayable_event_log(tmp_path: Path) -> None:
    config = write_config(tmp_path, PASS, '[gates]\n"unit.pass_rate" = "== 1"\n')
    proc = distlab(tmp_path, "--ci", "--config", str(config), "--seed", "31")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "distlab: seed 31 (replay with --seed 31)"
    assert "\x1b[" not in proc.stdout  # NO_COLOR: plain text
    assert "[unit] PASSED: 4 passed, 1 skipped" in proc.stdout
    assert "[gate] PASS unit.pass_rate == 1" in proc.stdout
    junit = tmp_path / "reports" / "junit.xml"
    xmlschema.XMLSchema(DATA / "junit-xunit10.xsd").validate(junit)
    cases = {c.name: c for suite in JUnitXml.fromfile(str(junit)) for c in suite}
    adds = cases["test_adds"]
    assert adds.classname == "tests.data.suites_pass.check_pass"
    assert adds._elem.get("file") == "tests/data/suites_pass/check_pass.py"
    assert 0 <= adds.time < 60  # seconds, not milliseconds
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert summary["seed"] == 31 and summary["exit_code"] == 0
    # Replay prints what the run printed live, event for event.
    run_dir = Path(summary["run_dir"])
    replay = distlab(tmp_path, "replay", str(run_dir))
    assert replay.returncode == 0, replay.stderr
    live = [line for line in lines if line.startswith(("[", "distlab: run dir", "distlab: PASS"))]
    replayed = [line for line in replay.stdout.splitlines() if line.startswith(("[", "distlab: "))]
    assert [line for line in replayed if not line.startswith("distlab: layers")] == live


def test_each_test_gets_a_line_as_it_ends_unless_quiet(tmp_path: Path) -> None:
    """A layer of several minutes is not minutes of silence: one line per finished
    test (outcome, layer, node id, duration), as pytest -v; -q keeps layers only."""
    config = write_config(tmp_path, PASS)
    proc = distlab(tmp_path, "--ci", "--config", str(config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    where = "tests/data/suites_pass/check_pass.py::"
    lines = proc.stdout.splitlines()
    tests = [line for line in lines if line.startswith(("[unit] PASSED ", "[unit] SKIPPED "))]
    assert [re.sub(r" \(\d+\.\d\ds\)", " (T)", line) for line in tests] == [
        f"[unit] PASSED {where}test_adds (T)",
        f"[unit] SKIPPED {where}test_skipped (T) - not on this platform",
        f"[unit] PASSED {where}test_param[1] (T)",
        f"[unit] PASSED {where}test_param[2] (T)",
        f"[unit] PASSED {where}TestGroup::test_in_class (T)",
    ]
    # Between the collection and the layer's end, as they finish.
    assert lines.index("[unit] collected 5 tests") < lines.index(tests[0])
    assert lines.index(tests[-1]) < lines.index(
        next(x for x in lines if x.startswith("[unit] PASSED:"))
    )

    quiet = distlab(tmp_path, "--ci", "-q", "--config", str(config))
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert where not in quiet.stdout
    assert "[unit] PASSED: 4 passed, 1 skipped" in quiet.stdout


def test_exit_1_when_a_required_layer_fails_and_the_junit_says_why(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"unit": {"suite": "suites_fail"}})
    proc = distlab(tmp_path, "--ci", "--config", str(config), "--junit-xml", "out/j.xml")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "[unit] FAILED tests/data/suites_fail/check_fail.py::test_wrong_sum" in proc.stdout
    assert "distlab: FAIL (exit 1)" in proc.stdout
    junit = tmp_path / "out" / "j.xml"
    xmlschema.XMLSchema(DATA / "junit-xunit10.xsd").validate(junit)
    cases = {c.name: c for suite in JUnitXml.fromfile(str(junit)) for c in suite}
    assert "arithmetic is broken" in cases["test_wrong_sum"].result[0].message


def test_exit_3_when_the_lab_breaks(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"unit": {"suite": "suites_lab"}})
    proc = distlab(tmp_path, "--ci", "--config", str(config))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "the lab broke in unit: node n1 cannot start: port 7001" in proc.stdout
    xmlschema.XMLSchema(DATA / "junit-xunit10.xsd").validate(tmp_path / "reports" / "junit.xml")


@pytest.mark.parametrize(
    ("layers", "args", "message"),
    [
        ({"unit": {"suite": "no_such_suite"}}, [], "[suites.unit] paths: '"),
        (PASS, ["--layers", "unit,nope"], "--layers: 'nope' is not a layer"),
        (PASS, ["--seed", "minus-one"], "seed must be a whole number"),
        (
            PASS,
            ["--junit-xml", "config.toml/j.xml"],
            "--junit-xml config.toml/j.xml: cannot create",
        ),
    ],
)
def test_exit_2_for_bad_input_in_one_line_before_anything_runs(
    tmp_path: Path, layers: dict, args: list[str], message: str
) -> None:
    config = write_config(tmp_path, layers)
    proc = distlab(tmp_path, "--ci", "--config", str(config), *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_a_gate_on_an_unconfigured_layer_is_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, PASS, '[gates]\n"chaos.availability" = ">= 0.8"\n')
    proc = distlab(tmp_path, "--ci", "--config", str(config))
    assert proc.returncode == 2
    assert "config.toml:10: [gates] 'chaos.availability': names layer 'chaos', which has no" in (
        proc.stderr
    )
    assert not (tmp_path / "runs").exists()


def test_a_baseline_gate_fails_after_a_deliberate_2x_slowdown(tmp_path: Path) -> None:
    gates = '[gates]\n"performance.op_ms{f:op}" = "avg <= baseline * 1.3"\n'
    config = write_config(tmp_path, {"performance": {"suite": "suites_slow"}}, gates)
    first = distlab(tmp_path, "--ci", "--config", str(config))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "[gate] NO BASELINE performance.op_ms{f:op} avg <= baseline * 1.3: no baseline: " in (
        first.stdout
    )
    slow = distlab(tmp_path, "--ci", "--config", str(config), SLOWDOWN="2")
    assert slow.returncode == 1, slow.stdout + slow.stderr
    assert "[gate] FAIL performance.op_ms{f:op} avg <= baseline * 1.3" in slow.stdout
    # The history kept both runs; the failed one is not a baseline.
    history = distlab(tmp_path, "history", "--config", str(config))
    assert history.returncode == 0, history.stderr
    assert "pass" in history.stdout and "fail" in history.stdout


def test_list_shows_each_layers_tests_and_collection_errors(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, {"unit": {"suite": "suites_pass"}, "chaos": {"suite": "suites_collect_error"}}
    )
    proc = distlab(tmp_path, "list", "--config", str(config), "--json")
    assert proc.returncode == 1  # a collection error is worth a non-zero exit
    unit, chaos = (json.loads(line) for line in proc.stdout.splitlines())
    assert unit["layer"] == "unit" and len(unit["tests"]) == 5
    assert {"nodeid", "file", "line", "markers"} <= set(unit["tests"][0])
    assert chaos["errors"][0]["nodeid"].endswith("check_broken.py")
    assert "distlab_no_such_module" in chaos["errors"][0]["message"]


def test_replay_of_something_that_is_not_a_run_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("not json\n")
    for arg, message in [
        ("missing-dir", "no such file or directory"),
        (str(tmp_path), "no events.jsonl in this directory"),
        (str(tmp_path / "empty.jsonl"), "holds no distlab events"),
    ]:
        proc = distlab(tmp_path, "replay", arg)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_sigterm_stops_the_run_kills_its_tests_and_still_writes_reports(tmp_path: Path) -> None:
    import psutil

    config = write_config(tmp_path, {"unit": {"suite": "suites_hang"}})
    proc = subprocess.Popen(
        [sys.executable, "-m", "distlab.cli.main", "--ci", "--config", str(config)],
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = sigterm_once_hanging(proc, tmp_path / "runs")
    assert proc.returncode == 130, out + err
    (pid_file,) = tmp_path.glob("runs/*/hang-child.pid")
    child = int(pid_file.read_text())
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert (summary["exit_code"], summary["verdict"]) == (130, "stopped")
    unit = summary["layers"][0]
    # What finished before the interrupt is in the reports, not only in events.jsonl.
    assert (unit["outcome"], unit["reason"]) == ("stopped", "interrupted after 1 test(s)")
    assert unit["counts"]["passed"] == 1
    junit = (tmp_path / "reports" / "junit.xml").read_text()
    assert "test_quick" in junit
