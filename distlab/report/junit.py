"""JUnit XML: one ``<testsuite>`` per layer plus a ``gates`` testsuite.

Two dialects, both checked in ``tests/`` against schemas shipped unmodified
in ``tests/data/``:

- ``xunit10`` (default): the Jenkins xunit plugin's JUnit schema
  (``junit-xunit10.xsd``). It declares ``file`` and ``line`` on
  ``<testcase>``, which GitLab and GitHub annotators need, a ``message`` on
  ``<skipped>``, and ``<rerunFailure>`` for the failed earlier attempts of a
  test that kept failing.
- ``junit4``: the strict Jenkins JUnit schema (``junit-jenkins.xsd``, as JUnit 5
  validates its own reports): no ``file``/``line``, no rerun elements.

Flaky tests: neither schema accepts Maven Surefire's ``<flakyFailure>``, so
by default a flaky test is what it finally was -- a passing testcase -- and
each earlier failed attempt (message, traceback, output) is a
``<system-out>``/``<system-err>`` entry on it; the layer's properties count
and list the flaky tests. ``flaky_form="surefire"`` writes Surefire's
``<flakyFailure>`` elements instead, for tools that read them (Jenkins'
JUnit plugin, junitparser's xunit2); that output is outside both schemas.
"""

from __future__ import annotations

import re
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from distlab.gates.aggregate import aggregate
from distlab.gates.evaluate import status
from distlab.gates.metrics import builtin_metrics
from distlab.report.files import atomic_write
from distlab.report.text import clean, first_line
from distlab.results import Attempt, GateVerdict, LayerResult, RunResult, TestResult

Dialect = Literal["xunit10", "junit4"]
FlakyForm = Literal["system-out", "surefire"]

# Layer outcomes that get a testcase of their own, so CI UIs show them as errors.
_LAYER_ERRORS = {
    "crashed": "pytest crashed",
    "timeout": "the layer timed out",
    "error": "the layer could not run",
    "empty": "the layer collected no tests",
}
_EXC_TYPE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Failed|Warning))\b")


def write_junit(
    run: RunResult,
    path: str | Path,
    *,
    dialect: Dialect = "xunit10",
    flaky_form: FlakyForm = "system-out",
) -> None:
    """Write the run as JUnit XML to ``path``, atomically (temp file + rename)."""
    atomic_write(
        path, junit_bytes(run, dialect=dialect, flaky_form=flaky_form), what="JUnit report"
    )


def junit_bytes(
    run: RunResult, *, dialect: Dialect = "xunit10", flaky_form: FlakyForm = "system-out"
) -> bytes:
    """The JUnit XML document for a run, as UTF-8 bytes."""
    writer = _Writer(run, dialect, flaky_form)
    root = writer.document()
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


class _Writer:
    def __init__(self, run: RunResult, dialect: Dialect, flaky_form: FlakyForm) -> None:
        if dialect not in ("xunit10", "junit4"):
            raise ValueError(f"JUnit dialect must be xunit10 or junit4, got {dialect!r}")
        if flaky_form not in ("system-out", "surefire"):
            raise ValueError(f"flaky_form must be system-out or surefire, got {flaky_form!r}")
        self.run = run
        self.annotated = dialect == "xunit10"
        self.flaky_form = flaky_form
        self.timestamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(run.started or 0))
        self.hostname = socket.gethostname()

    def document(self) -> ET.Element:
        root = ET.Element("testsuites", name="distlab")
        suites = [self.layer_suite(layer) for layer in self.run.layers]
        suites.append(self.gates_suite(self.run.gates))
        for key in ("tests", "failures", "errors"):
            root.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
        duration = self.run.duration_s or sum(layer.duration_s for layer in self.run.layers)
        root.set("time", _seconds(duration))
        root.extend(suites)
        return root

    # --- layers ---------------------------------------------------------

    def layer_suite(self, layer: LayerResult) -> ET.Element:
        suite = self.suite(layer.layer, layer.duration_s)
        suite.append(self.layer_properties(layer))
        for test in layer.tests:
            suite.append(self.testcase(test))
        if layer.outcome in _LAYER_ERRORS or layer.outcome == "not-run":
            suite.append(self.layer_case(layer))
        return _count(suite)

    def layer_properties(self, layer: LayerResult) -> ET.Element:
        props = self.common_properties()
        _prop(props, "layer.outcome", layer.outcome)
        _prop(props, "layer.required", str(layer.required).lower())
        if layer.reason:
            _prop(props, "layer.reason", layer.reason)
        if layer.outcome != "not-run":
            for name, value in builtin_metrics(layer).items():
                _prop(props, f"metric.{layer.layer}.{name}", _num(value))
        for name, summary in _metric_summaries(layer):
            _prop(props, f"metric.{layer.layer}.{name}", summary)
        flaky = [t.nodeid for t in layer.tests if t.outcome == "flaky"]
        if flaky:
            _prop(props, "flaky.count", str(len(flaky)))
            _prop(props, "flaky.tests", " ".join(flaky))
        for verdict in self.run.gates:
            if verdict.metric.split(".", 1)[0] == layer.layer:
                _prop(props, f"gate.{verdict.name}", _verdict_line(verdict))
        return props

    def testcase(self, test: TestResult) -> ET.Element:
        file = test.file or test.nodeid.split("::", 1)[0]
        case = self.case(test.classname, test.name, test.duration_s, file, test.line)
        message = first_line(test.message) or first_line(_last_line(test.longrepr))
        if test.outcome in ("skipped", "xfailed"):
            reason = test.skip_reason or test.message or test.outcome
            if test.outcome == "xfailed":
                reason = f"xfail: {reason}"
            self.skipped(case, reason)
        elif test.outcome == "error":
            _text(case, "error", test.longrepr or test.message, message=message, type=_type(test))
        elif test.outcome == "failed":
            _text(case, "failure", test.longrepr or test.message, message=message, type=_type(test))
            if self.annotated:
                for attempt in test.attempts:
                    self.rerun_failure(case, attempt)
        if test.outcome == "flaky" and self.flaky_form == "surefire":
            for attempt in test.attempts:
                self.flaky_failure(case, attempt)
        self.outputs(case, test)
        return case

    def outputs(self, case: ET.Element, test: TestResult) -> None:
        """``<system-out>``/``<system-err>``: earlier attempts first (unless written
        as rerun or flaky elements), then the final run's output."""
        described = (test.outcome == "failed" and self.annotated) or (
            test.outcome == "flaky" and self.flaky_form == "surefire"
        )
        outs: list[str] = []
        errs: list[str] = []
        if not described:
            for n, attempt in enumerate(test.attempts, 1):
                outs.append(_attempt_text(n, len(test.attempts), test.outcome, attempt))
                if attempt.stderr:
                    errs.append(f"[attempt {n}]\n{attempt.stderr}")
        outs.append(test.stdout)
        errs.append(test.stderr)
        for tag, texts in (("system-out", outs), ("system-err", errs)):
            for text in texts:
                if text:
                    _text(case, tag, text)

    def rerun_failure(self, case: ET.Element, attempt: Attempt) -> None:
        el = _text(case, "rerunFailure", attempt.longrepr, message=first_line(attempt.message))
        el.set("type", "rerun")
        if attempt.stdout:
            _text(el, "system-out", attempt.stdout)
        if attempt.stderr:
            _text(el, "system-err", attempt.stderr)

    def flaky_failure(self, case: ET.Element, attempt: Attempt) -> None:
        el = ET.SubElement(case, "flakyFailure", message=first_line(attempt.message), type="flaky")
        _text(el, "stackTrace", attempt.longrepr or attempt.message)
        if attempt.stdout:
            _text(el, "system-out", attempt.stdout)
        if attempt.stderr:
            _text(el, "system-err", attempt.stderr)

    def layer_case(self, layer: LayerResult) -> ET.Element:
        """A testcase standing for the layer itself, when it broke or never ran."""
        case = self.case(
            f"distlab.layers.{layer.layer}", f"layer {layer.outcome}", layer.duration_s,
            self.run.config, layer.config_line,
        )  # fmt: skip
        reason = layer.reason or _LAYER_ERRORS.get(layer.outcome, "the layer did not run")
        if layer.outcome == "not-run":
            self.skipped(case, reason)
        else:
            _text(case, "error", reason, message=first_line(reason), type=layer.outcome)
        return case

    # --- gates ----------------------------------------------------------

    def gates_suite(self, verdicts: Iterable[GateVerdict]) -> ET.Element:
        suite = self.suite("gates", 0.0)
        props = self.common_properties()
        cases = []
        for verdict in verdicts:
            _prop(props, f"gate.{verdict.name}", _verdict_line(verdict))
            cases.append(self.gate_case(verdict))
        suite.append(props)
        suite.extend(cases)
        return _count(suite)

    def gate_case(self, verdict: GateVerdict) -> ET.Element:
        layer = verdict.metric.split(".", 1)[0].split("{", 1)[0]
        case = self.case(f"gates.{layer}", verdict.name, 0.0, self.run.config, verdict.config_line)
        observed = "none" if verdict.observed is None else _num(verdict.observed)
        detail = (
            f"{verdict.explanation}\nmetric: {verdict.metric}\nobserved: {observed}\n"
            f"threshold: {verdict.threshold}\nabort_on_fail: {str(verdict.abort_on_fail).lower()}"
        )
        state = status(verdict)
        if state == "failed":
            _text(case, "failure", detail, message=first_line(verdict.explanation), type="gate")
        elif state == "not-evaluated":
            # Not a pass: nothing was judged for a layer this run was meant to judge.
            _text(case, "error", detail, message=first_line(verdict.explanation), type=state)
        elif state in ("not-selected", "no-baseline"):
            self.skipped(case, verdict.explanation)
        else:
            _text(case, "system-out", detail)
        return case

    # --- shared pieces --------------------------------------------------

    def suite(self, name: str, duration_s: float) -> ET.Element:
        return ET.Element(
            "testsuite",
            name=name,
            tests="0",
            failures="0",
            errors="0",
            skipped="0",
            time=_seconds(duration_s),
            timestamp=self.timestamp,
            hostname=self.hostname,
        )

    def common_properties(self) -> ET.Element:
        props = ET.Element("properties")
        _prop(props, "seed", str(self.run.seed))
        if self.run.branch:
            _prop(props, "branch", self.run.branch)
        if self.run.run_dir:
            _prop(props, "run_dir", self.run.run_dir)
        return props

    def case(
        self, classname: str, name: str, duration_s: float, file: str, line: int | None
    ) -> ET.Element:
        case = ET.Element("testcase", classname=clean(classname), name=clean(name))
        if self.annotated:
            case.set("file", clean(file))
            if line is not None:
                case.set("line", str(line))
        case.set("time", _seconds(duration_s))
        return case

    def skipped(self, case: ET.Element, reason: str) -> None:
        if self.annotated:
            _text(case, "skipped", reason, message=first_line(reason))
        else:
            _text(case, "skipped", reason)


def _count(suite: ET.Element) -> ET.Element:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    return suite


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: v for k, v in attrs.items() if v})
    el.text = clean(text)
    return el


def _prop(props: ET.Element, name: str, value: str) -> None:
    ET.SubElement(props, "property", name=clean(name, 1000), value=clean(value, 4000))


def _attempt_text(n: int, total: int, outcome: str, attempt: Attempt) -> str:
    head = "flaky: " if outcome == "flaky" else ""
    text = (
        f"[distlab] {head}attempt {n} of {total + 1} failed: {attempt.message}\n{attempt.longrepr}"
    )
    if attempt.stdout:
        text += f"\n--- captured stdout of attempt {n} ---\n{attempt.stdout}"
    return text


def _metric_summaries(layer: LayerResult) -> list[tuple[str, str]]:
    """One line per recorded metric and tag set: count, avg, p50, p95, p99, max."""
    groups: dict[str, list[float]] = {}
    units: dict[str, str] = {}
    for m in layer.metrics:
        tags = ",".join(f"{k}:{v}" for k, v in sorted(m.tags.items()))
        key = f"{m.name}{{{tags}}}" if tags else m.name
        groups.setdefault(key, []).append(float(m.value))
        units[key] = m.unit
    out = []
    for key, samples in sorted(groups.items()):
        parts = [f"count={len(samples)}"]
        for label, name, q in (("avg", "avg", None), ("p50", "p", 50.0), ("p95", "p", 95.0),
                               ("p99", "p", 99.0), ("max", "max", None)):  # fmt: skip
            value = aggregate(name, samples, q)
            if value is not None:
                parts.append(f"{label}={_num(value)}")
        if units[key]:
            parts.append(f"unit={units[key]}")
        out.append((key, " ".join(parts)))
    return out


def _verdict_line(verdict: GateVerdict) -> str:
    # The explanation already ends in "pass"/"FAIL" or starts with "not evaluated".
    return verdict.explanation


def _type(test: TestResult) -> str:
    m = _EXC_TYPE.match(test.message or "") or _EXC_TYPE.match(_last_line(test.longrepr))
    return m.group(1) if m else test.outcome


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1].lstrip("E ").strip() if lines else ""


def _seconds(value: float) -> str:
    return f"{max(0.0, float(value)):.3f}"


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else f"{value:.6g}"
