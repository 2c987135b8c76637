"""JUnit XML: schema-valid (both shipped Jenkins XSDs), readable by junitparser,
one suite per layer plus gates, safe with odd output, written atomically."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from gate_runs import latencies, layer, run
from junitparser import JUnitXml, xunit2

from distlab.config import load
from distlab.config.schema import GateSpec
from distlab.errors import UsageError
from distlab.gates import evaluate
from distlab.report import junit_bytes, write_junit
from distlab.results import Attempt

DATA = Path(__file__).parent / "data"
XUNIT10 = xmlschema.XMLSchema(DATA / "junit-xunit10.xsd")
JENKINS = xmlschema.XMLSchema(DATA / "junit-jenkins.xsd")

CONFIG = """\
[suites.unit]
paths = ["tests"]

[suites.chaos]
paths = ["suites/chaos"]

[gates]
"unit.pass_rate" = "== 1"
"performance.kv_put_ms{f:put}" = "p(95) < 50"
"distributed.pass_rate" = "== 1"
"""


@pytest.fixture
def full_run(tmp_path: Path):
    """A run with every outcome, a timed-out and a not-run layer, metrics and gates.

    Config lines come from the loader, through the layer results and the gate
    verdicts, as in a real run.
    """
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    loaded = load(config)
    unit = layer(
        "unit",
        {"passed": 2, "failed": 1, "error": 1, "flaky": 1, "skipped": 1, "xfailed": 1},
        duration_s=2.5,
    )
    failed = next(t for t in unit.tests if t.outcome == "failed")
    failed.attempts = [Attempt(message="AssertionError: first", longrepr="tb1", stdout="o1")]
    failed.stdout = "some output"
    perf = layer("performance", {"passed": 1})
    perf.metrics = latencies([10.0, 20.0, 90.0], f="put")
    chaos = layer(
        "chaos",
        {"passed": 2},
        outcome="timeout",
        reason="killed after 600 s",
        config_line=loaded.suites["chaos"].line,
    )
    dist = layer("distributed", {}, outcome="not-run", reason="stopped: a gate failed")
    r = run(unit, perf, chaos, dist)
    r.config = str(config)
    r.gates = evaluate(loaded.gates, r)
    return r


def test_default_output_validates_against_the_jenkins_xunit_schema(full_run) -> None:
    XUNIT10.validate(junit_bytes(full_run).decode())


def test_junit4_dialect_validates_against_the_strict_jenkins_schema(full_run) -> None:
    JENKINS.validate(junit_bytes(full_run, dialect="junit4").decode())


def test_the_strict_schema_really_rejects_file_attributes(full_run) -> None:
    # Why the default dialect is validated against junit-xunit10.xsd: the strict
    # schema has no `file`/`line` on <testcase>, which annotators need.
    errors = list(JENKINS.iter_errors(junit_bytes(full_run).decode()))
    assert errors and any("file" in str(e) for e in errors)


def test_junitparser_reads_classname_file_line_and_seconds(full_run, tmp_path: Path) -> None:
    path = tmp_path / "reports" / "junit.xml"
    write_junit(full_run, path)
    xml = JUnitXml.fromfile(str(path))
    suites = {s.name: s for s in xml}
    assert list(suites) == ["unit", "performance", "chaos", "distributed", "gates"]
    unit = suites["unit"]
    assert (unit.tests, unit.failures, unit.errors, unit.skipped) == (7, 1, 1, 2)
    assert unit.time == pytest.approx(2.5)
    for case in unit:
        assert case.classname == "suites.unit.test_unit.TestThing"
        assert case._elem.get("file") == "suites/unit/test_unit.py"
        assert int(case._elem.get("line")) >= 10
        assert case.time == pytest.approx(0.25)
    by_name = {c.name: c for c in unit}
    failure = by_name["test_failed_0"].result[0]
    assert failure.message == "AssertionError: boom" and failure.type == "AssertionError"
    assert "Traceback" in failure.text
    skipped = by_name["test_skipped_0"].result[0]
    assert skipped.message == "needs postgres"
    assert by_name["test_flaky_0"].is_passed
    assert "flaky: attempt 1 of 2 failed: first try failed" in by_name["test_flaky_0"].system_out


def test_every_testcase_has_classname_file_and_time(full_run) -> None:
    root = ET.fromstring(junit_bytes(full_run))
    cases = root.findall(".//testcase")
    assert len(cases) == 7 + 1 + 3 + 1 + 3
    for case in cases:
        assert case.get("classname") and case.get("file") and case.get("time") is not None


def test_properties_carry_seed_metrics_and_verdicts(full_run) -> None:
    root = ET.fromstring(junit_bytes(full_run))
    props = {
        suite.get("name"): {p.get("name"): p.get("value") for p in suite.iter("property")}
        for suite in root.iter("testsuite")
    }
    assert props["unit"]["seed"] == "7"
    assert props["unit"]["metric.unit.pass_rate"] == "0.666667"
    assert props["unit"]["flaky.tests"].endswith("test_flaky_0")
    assert props["unit"]["gate.unit.pass_rate == 1"] == "unit.pass_rate = 0.6667, needs == 1: FAIL"
    perf = props["performance"]["metric.performance.kv_put_ms{f:put}"]
    assert perf.startswith("count=3 avg=40 p50=20") and perf.endswith("unit=ms")
    assert props["gates"]["seed"] == "7"


def test_gates_suite_has_one_testcase_per_gate_pointing_at_the_config(full_run) -> None:
    root = ET.fromstring(junit_bytes(full_run))
    gates = root.find("testsuite[@name='gates']")
    assert gates is not None
    cases = {c.get("name"): c for c in gates.findall("testcase")}
    assert list(cases) == [
        "unit.pass_rate == 1",
        "performance.kv_put_ms{f:put} p(95) < 50",
        "distributed.pass_rate == 1",
    ]
    unit = cases["unit.pass_rate == 1"]
    assert unit.get("classname") == "gates.unit"
    assert unit.get("file").endswith("config.toml") and unit.get("line") == "8"
    assert "needs == 1: FAIL" in unit.find("failure").get("message")
    perf = cases["performance.kv_put_ms{f:put} p(95) < 50"]
    assert perf.find("failure") is not None and "p(95) = 83" in perf.find("failure").text
    # Selected but never run: not a pass, and not a skip a JUnit view would show as fine.
    unjudged = cases["distributed.pass_rate == 1"].find("error")
    assert unjudged is not None and unjudged.get("type") == "not-evaluated"
    assert unjudged.get("message") == (
        "not evaluated: layer 'distributed' did not run (stopped: a gate failed)"
    )
    assert (gates.get("tests"), gates.get("failures"), gates.get("errors")) == ("3", "2", "1")


def test_broken_and_skipped_layers_show_as_testcases(full_run) -> None:
    root = ET.fromstring(junit_bytes(full_run))
    chaos = root.find("testsuite[@name='chaos']")
    timeout = chaos.find("testcase[@name='layer timeout']")
    assert timeout.find("error").get("message") == "killed after 600 s"
    assert timeout.get("line") == "4"  # [suites.chaos] in the config
    assert chaos.get("errors") == "1"
    dist = root.find("testsuite[@name='distributed']")
    assert dist.find("testcase/skipped").text == "stopped: a gate failed"


def test_a_rerun_test_that_kept_failing_lists_its_attempts(full_run) -> None:
    root = ET.fromstring(junit_bytes(full_run))
    case = root.find(".//testcase[@name='test_failed_0']")
    rerun = case.find("rerunFailure")
    assert rerun.get("message") == "AssertionError: first" and rerun.find("system-out").text == "o1"
    assert case.find("system-out").text == "some output"


def test_surefire_flaky_form_reads_as_flaky(full_run) -> None:
    data = junit_bytes(full_run, flaky_form="surefire")
    xml = xunit2.JUnitXml.fromstring(data)
    cases = {c.name: c for suite in xml for c in suite}
    flaky = cases["test_flaky_0"]
    assert flaky.is_flaky and flaky.is_passed
    assert flaky.flaky_failures()[0].message == "first try failed"
    assert not cases["test_passed_0"].is_flaky


def test_odd_characters_and_huge_output_still_make_valid_xml(tmp_path: Path) -> None:
    unit = layer("unit", {"failed": 1})
    test = unit.tests[0]
    nasty = "NUL\x00 ESC\x1b[31m BEL\x07 lone\udc80 ]]> <tag> & \"q\" 'a' \ufffe end"
    test.nodeid = f"tests/test_x.py::test_{nasty}"
    test.message = nasty
    test.longrepr = nasty * 3
    test.stdout = "x" * 5_000_000 + "THE END"
    test.stderr = nasty
    r = run(unit)
    r.gates = evaluate([GateSpec("unit.pass_rate", ["== 1"])], r)
    data = junit_bytes(r)
    assert len(data) < 300_000
    XUNIT10.validate(data.decode())
    JENKINS.validate(junit_bytes(r, dialect="junit4").decode())
    case = ET.fromstring(data).find(".//testcase")
    out = case.find("system-out").text
    assert "characters cut" in out and out.endswith("THE END")
    assert "\\x1b[31m" in case.find("failure").get("message")
    assert "]]> <tag> &" in case.find("system-err").text


def test_a_run_that_broke_before_any_layer_is_still_valid() -> None:
    r = run()
    XUNIT10.validate(junit_bytes(r).decode())
    JENKINS.validate(junit_bytes(r, dialect="junit4").decode())


def test_write_is_atomic_and_leaves_no_temp_files(full_run, tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text("old")
    write_junit(full_run, path)
    assert path.read_bytes() == junit_bytes(full_run)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "junit.xml"]
    with pytest.raises(ValueError):
        write_junit(full_run, path, dialect="bogus")  # type: ignore[arg-type]
    assert path.read_bytes() == junit_bytes(full_run)


def test_a_reader_never_sees_a_half_written_report(tmp_path: Path) -> None:
    big = layer("unit", {"failed": 40})
    for t in big.tests:
        t.stdout = "y" * 20_000
    small = run(layer("unit", {"passed": 1}))
    path = tmp_path / "junit.xml"
    write_junit(small, path)
    stop = threading.Event()
    seen: list[int] = []
    broken: list[str] = []

    def read() -> None:
        while not stop.is_set():
            data = path.read_bytes()
            try:
                seen.append(len(ET.fromstring(data).findall(".//testcase")))
            except ET.ParseError as e:
                broken.append(str(e))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(30):
            write_junit(run(big) if i % 2 == 0 else small, path)
    finally:
        stop.set()
        reader.join(timeout=30)
    assert not broken
    assert set(seen) <= {1, 40}


def test_an_unwritable_report_path_is_a_one_line_usage_error(full_run, tmp_path: Path) -> None:
    blocker = tmp_path / "reports"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(UsageError) as e:
        write_junit(full_run, blocker / "junit.xml")
    assert str(blocker / "junit.xml") in e.value.message
    assert "\n" not in e.value.message
    # Also an OSError, for callers that treat report files like any other I/O.
    assert isinstance(e.value, OSError) and "is a file, not a directory" in e.value.strerror
