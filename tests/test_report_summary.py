"""summary.json is RunResult.to_dict(), strict JSON, and reads back."""

from __future__ import annotations

import json
from pathlib import Path

from gate_runs import latencies, layer, run

from distlab.config.schema import GateSpec
from distlab.gates import evaluate
from distlab.report import read_summary, write_summary
from distlab.report.summary import summary_dict
from distlab.results import Metric


def test_summary_round_trips(tmp_path: Path) -> None:
    perf = layer("performance", {"passed": 2, "flaky": 1})
    perf.metrics = latencies([1.0, 2.0], f="put")
    r = run(layer("unit", {"passed": 3, "failed": 1}), perf)
    r.gates = evaluate([GateSpec("unit.pass_rate", ["== 1"])], r)
    path = tmp_path / "reports" / "summary.json"
    write_summary(r, path)
    data = json.loads(path.read_text())
    assert data == json.loads(json.dumps(r.to_dict()))
    assert summary_dict(r) == r.to_dict()
    assert data["layers"][0]["counts"]["failed"] == 1
    assert data["gates"][0]["passed"] is False
    assert read_summary(path).to_dict() == r.to_dict()


def test_non_finite_numbers_become_null(tmp_path: Path) -> None:
    unit = layer("unit", {"passed": 1})
    unit.metrics = [Metric("odd", float("nan"))]
    path = tmp_path / "summary.json"
    write_summary(run(unit), path)
    text = path.read_text()
    assert "NaN" not in text
    assert json.loads(text)["layers"][0]["metrics"][0]["value"] is None


def test_lone_surrogates_from_undecodable_output_do_not_break_the_file(tmp_path: Path) -> None:
    unit = layer("unit", {"failed": 1})
    unit.tests[0].stdout = "bad byte \udc80 here"
    path = tmp_path / "summary.json"
    write_summary(run(unit), path)
    assert read_summary(path).layers[0].tests[0].stdout == "bad byte \udc80 here"
