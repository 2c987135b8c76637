"""The pytest plugin in a real pytest subprocess: live events, markers,
metrics in the JSON report, the seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from distlab.events import SCHEMA_VERSION, Collect, Metric, TestEnd, TestStart, read_events

CASES = Path(__file__).parent / "data" / "plugin_cases"


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One pytest run over the cases, with events to a file and a JSON report."""
    tmp = tmp_path_factory.mktemp("plugin")
    feed, report = tmp / "events.jsonl", tmp / "report.json"
    env = {
        **os.environ,
        "DISTLAB_EVENTS": f"file:{feed}",
        "DISTLAB_LAYER": "unit",
        "DISTLAB_SEED": "4242",
        "DISTLAB_RUN_DIR": str(tmp / "run"),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--strict-markers",
            "-o",
            "python_files=check_*.py",
            "--json-report",
            f"--json-report-file={report}",
            str(CASES),
        ],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    return {
        "proc": proc,
        "events": list(read_events(feed)),
        "raw": [json.loads(line) for line in feed.read_text().splitlines()],
        "report": json.loads(report.read_text()),
    }


def _ends(session: dict) -> dict[str, TestEnd]:
    return {e.nodeid.split("::")[-1]: e for e in session["events"] if isinstance(e, TestEnd)}


def test_collect_event_lists_tests_with_file_line_and_markers(session: dict) -> None:
    (collect,) = [e for e in session["events"] if isinstance(e, Collect)]
    assert collect.layer == "unit"
    assert {e["v"] for e in session["raw"]} == {SCHEMA_VERSION}
    by_name = {t.nodeid.split("::")[-1]: t for t in collect.tests}
    assert len(by_name) == 7
    fails = by_name["test_fails"]
    assert fails.file.endswith("plugin_cases/check_events.py")
    # 1-based, as pytest locates it: a decorated function starts at its first decorator.
    assert fails.line == 12
    assert {"chaos", "slow"} <= set(fails.markers)


def test_every_test_starts_then_ends_with_its_outcome(session: dict) -> None:
    kinds = [(e.kind, e.nodeid) for e in session["events"] if isinstance(e, TestStart | TestEnd)]
    starts = [n for k, n in kinds if k == "test.start"]
    ends = [n for k, n in kinds if k == "test.end"]
    assert starts == ends and len(starts) == 7
    outcomes = {name: e.outcome for name, e in _ends(session).items()}
    assert outcomes == {
        "test_passes": "passed",
        "test_fails": "failed",
        "test_skipped": "skipped",
        "test_xfails": "xfailed",
        "test_errors_in_setup": "error",
        "test_bad_metric": "failed",
        "test_nan_metric": "failed",
    }


def test_failure_carries_message_traceback_and_captured_output(session: dict) -> None:
    fails = _ends(session)["test_fails"]
    assert fails.message.startswith("AssertionError: two twos are not five")
    assert "assert 2 * 2 == 5" in fails.longrepr or "assert (2 * 2) == 5" in fails.longrepr
    assert "printed before the failure" in fails.stdout
    assert fails.line == 12 and fails.duration_s is not None and fails.duration_s >= 0
    assert _ends(session)["test_skipped"].message == "needs a GPU"
    assert "setup broke" in _ends(session)["test_errors_in_setup"].message
    # A passing test sends no traceback or output: events stay small.
    assert _ends(session)["test_passes"].longrepr == ""


def test_metrics_go_live_and_into_the_json_report(session: dict) -> None:
    live = [e for e in session["events"] if isinstance(e, Metric)]
    assert [(m.name, m.value, m.unit, m.tags) for m in live] == [
        ("put_ms", 12.5, "ms", {"f": "put"}),
        ("put_ms", 14.0, "ms", {"f": "put"}),
    ]
    assert all(m.layer == "unit" and m.nodeid.endswith("::test_passes") for m in live)
    distlab = session["report"]["distlab"]
    assert distlab["seed"] == "4242" and distlab["layer"] == "unit"
    assert [m["value"] for m in distlab["metrics"]] == [12.5, 14.0]


def test_metric_rejects_bad_names_and_values(session: dict) -> None:
    assert "metric name must be a word" in _ends(session)["test_bad_metric"].message
    assert "must be finite" in _ends(session)["test_nan_metric"].message


def test_layer_markers_are_registered_and_seed_is_in_the_header(session: dict) -> None:
    (collect,) = [e for e in session["events"] if isinstance(e, Collect)]
    # Under --strict-markers an unregistered unit/chaos/slow mark is a collection error.
    assert collect.errors == ()
    assert "distlab seed: 4242" in session["proc"].stdout


def _hypothesis_examples(tmp_path: Path, seed: str, name: str) -> str:
    out = tmp_path / name
    env = {**os.environ, "DISTLAB_SEED": seed, "EXAMPLES_FILE": str(out)}
    env.pop("DISTLAB_EVENTS", None)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-o",
            "python_files=check_*.py",
            str(CASES.parent / "plugin_hypothesis"),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=True,
    )
    return out.read_text()


def test_hypothesis_draws_from_the_root_seed(tmp_path: Path) -> None:
    first = _hypothesis_examples(tmp_path, "11", "a")
    assert first and first == _hypothesis_examples(tmp_path, "11", "b")
    assert first != _hypothesis_examples(tmp_path, "12", "c")
