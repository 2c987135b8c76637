"""The progress printer: what --ci prints for events, and its heartbeat."""

from __future__ import annotations

import io

from distlab.events import decode
from distlab.runner.progress import LONGREPR_LINES, ProgressPrinter


def feed(printer: ProgressPrinter, *events: tuple[str, dict]) -> None:
    for kind, fields in events:
        printer(decode({"kind": kind, **fields}))


def test_failures_print_as_they_happen_and_passes_do_not() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out)
    longrepr = "\n".join(f"line {i}" for i in range(40))
    feed(
        printer,
        ("layer.start", {"layer": "unit", "attempt": 0}),
        ("collect", {"layer": "unit", "tests": [{"nodeid": "a"}, {"nodeid": "b"}], "errors": []}),
        ("test.end", {"layer": "unit", "nodeid": "t.py::a", "outcome": "passed"}),
        (
            "test.end",
            {
                "layer": "unit",
                "nodeid": "t.py::b",
                "outcome": "failed",
                "message": "AssertionError: no\nmore",
                "file": "t.py",
                "line": 3,
                "longrepr": longrepr,
            },
        ),
        (
            "layer.end",
            {
                "layer": "unit",
                "outcome": "failed",
                "duration_s": 1.25,
                "counts": {"passed": 1, "failed": 1, "flaky": 0},
                "reason": "1 failed: b",
            },
        ),
    )
    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        "[unit] started",
        "[unit] collected 2 tests",
        "[unit] FAILED t.py::b - AssertionError: no (t.py:3)",
    ]
    # The traceback is cut to its last lines; the JUnit keeps all of it.
    assert lines[3] == "    ..." and lines[4] == f"    line {40 - LONGREPR_LINES}"
    assert lines[-1] == "[unit] FAILED: 1 passed, 1 failed in 1.2s -- 1 failed: b"
    assert not any("t.py::a" in line for line in lines)


def test_heartbeat_says_what_runs_only_after_silence() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out)
    feed(
        printer,
        ("layer.start", {"layer": "chaos", "attempt": 0}),
        ("collect", {"layer": "chaos", "tests": [{}, {}, {}], "errors": []}),
        ("test.start", {"layer": "chaos", "nodeid": "c.py::one"}),
        ("test.end", {"layer": "chaos", "nodeid": "c.py::one", "outcome": "passed"}),
        ("test.start", {"layer": "chaos", "nodeid": "c.py::partition"}),
    )
    before = out.getvalue()
    printer.heartbeat(quiet_s=3600)
    assert out.getvalue() == before  # not quiet long enough
    printer.heartbeat(quiet_s=0)
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("[chaos] 1 of 3 tests done; running c.py::partition for ")
    feed(printer, ("layer.end", {"layer": "chaos", "outcome": "passed", "counts": {}}))
    after = out.getvalue()
    printer.heartbeat(quiet_s=0)
    assert out.getvalue() == after  # nothing runs: nothing to say
