"""Read a pytest-json-report file into distlab's results model.

The JSON report is the final word on a layer: the live events are for
watching, this is what the reports, gates and history are built from.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from distlab.pytest_plugin import LAB_ERROR_PROPERTY, VERDICTS_PROPERTY
from distlab.results import Metric, TestResult

_STAGES = ("setup", "call", "teardown")
# pytest-json-report's per-test outcomes are pytest's short categories.
_KNOWN = {"passed", "failed", "error", "skipped", "xfailed", "xpassed"}


def load_report(path: Path) -> dict[str, Any] | None:
    """The report at ``path``, or None when pytest died before writing it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def tests_of(report: dict[str, Any], layer: str) -> list[TestResult]:
    """Every test in the report, collection errors included as ``error`` tests."""
    results = [_collect_error(c, layer) for c in collect_errors(report)]
    for item in report.get("tests", []):
        results.append(_test(item, layer))
    return results


def collect_errors(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Collectors that failed (an import error, a syntax error in a test file)."""
    ours = (report.get("distlab") or {}).get("collect_errors")
    if ours is not None:
        return [{"nodeid": c.get("nodeid", ""), "longrepr": c.get("message", "")} for c in ours]
    return [c for c in report.get("collectors", []) if c.get("outcome") == "failed"]


def metrics_of_report(report: dict[str, Any]) -> list[Metric]:
    """The samples the ``metric`` fixture recorded in this layer."""
    raw = (report.get("distlab") or {}).get("metrics", [])
    metrics = []
    for m in raw:
        try:
            metrics.append(
                Metric(
                    name=str(m["name"]),
                    value=float(m["value"]),
                    unit=str(m.get("unit", "")),
                    nodeid=str(m.get("nodeid", "")),
                    tags={str(k): str(v) for k, v in (m.get("tags") or {}).items()},
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return metrics


def lab_errors(report: dict[str, Any]) -> dict[str, str]:
    """nodeid -> message for tests that failed with a ``distlab.errors.LabError``."""
    found = {}
    for item in report.get("tests", []):
        for prop in item.get("user_properties", []) or []:
            if isinstance(prop, dict) and LAB_ERROR_PROPERTY in prop:
                found[item["nodeid"]] = str(prop[LAB_ERROR_PROPERTY])
    return found


def _verdicts(item: dict[str, Any]) -> list[str]:
    """The ``checker=verdict`` strings the test announced (distlab.checks)."""
    for prop in item.get("user_properties", []) or []:
        if isinstance(prop, dict) and isinstance(prop.get(VERDICTS_PROPERTY), list):
            return [str(v) for v in prop[VERDICTS_PROPERTY]]
    return []


def _test(item: dict[str, Any], layer: str) -> TestResult:
    nodeid = item["nodeid"]
    outcome = item.get("outcome", "error")
    if outcome not in _KNOWN:
        outcome = "error"
    stages = [item[s] for s in _STAGES if isinstance(item.get(s), dict)]
    lineno = item.get("lineno")
    result = TestResult(
        nodeid=nodeid,
        layer=layer,
        outcome=outcome,
        duration_s=sum(float(s.get("duration", 0.0)) for s in stages),
        file=nodeid.split("::")[0],
        line=lineno + 1 if isinstance(lineno, int) else None,
        markers=list((item.get("metadata") or {}).get("markers", [])),
        verdicts=_verdicts(item),
    )
    bad = next((s for s in stages if s.get("outcome") == "failed"), None)
    if outcome == "skipped":
        skipped = next((s for s in stages if s.get("outcome") == "skipped"), None)
        result.skip_reason = _skip_reason(skipped.get("longrepr", "") if skipped else "")
        result.message = result.skip_reason
    elif bad is not None:
        crash = bad.get("crash") or {}
        longrepr = str(bad.get("longrepr", ""))
        result.message = str(crash.get("message") or _last_line(longrepr))
        result.longrepr = longrepr
        result.stdout = str(bad.get("stdout", ""))
        result.stderr = str(bad.get("stderr", ""))
    elif outcome == "passed":
        # What a passing test printed is evidence too (a chaos test's lost writes,
        # by count and id): it goes to the JUnit's system-out.
        result.stdout = "".join(str(s.get("stdout", "")) for s in stages)
    return result


def _collect_error(collector: dict[str, Any], layer: str) -> TestResult:
    nodeid = collector.get("nodeid") or "<collection>"
    longrepr = str(collector.get("longrepr", ""))
    return TestResult(
        nodeid=nodeid,
        layer=layer,
        outcome="error",
        file=nodeid.split("::")[0] or None,
        line=None,
        message=f"collection error: {_last_line(longrepr)}",
        longrepr=longrepr,
    )


def _skip_reason(longrepr: str) -> str:
    # pytest-json-report stores a skip as str(("path", line, "Skipped: why")).
    try:
        value = ast.literal_eval(longrepr)
    except (ValueError, SyntaxError):
        return longrepr
    if isinstance(value, tuple) and len(value) == 3:
        return str(value[2]).removeprefix("Skipped: ")
    return longrepr


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    # pytest marks exception lines with "E   "; the message reads better without.
    return re.sub(r"^E\s+", "", lines[-1].strip()) if lines else ""
