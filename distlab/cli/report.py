"""`distlab report RUN_DIR`: (re)build a run's report.html from its events."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from distlab.errors import UsageError

DESCRIPTION = """\
Build a run's report: one self-contained HTML page (no script, nothing
fetched) with throughput, p50/p99 latency and the nodes' states over time,
the fault windows drawn as bands, availability and recovery time per fault
window, the checker verdicts with links to their counterexample timelines,
the gates with their observed values, and every layer's tests.

Every run writes RUN_DIR/report.html when it ends; this rebuilds it from the
run's events.jsonl alone, say for a run directory downloaded from CI.
"""

EPILOG = """\
examples:
  distlab report .distlab/runs/20260101-120000-42
  distlab report .distlab/runs/20260101-120000-42 -o /tmp/run.html
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="build a run's HTML report (report.html) from its events",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        help="a run directory, as .distlab/runs/<run> (with events.jsonl)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="where to write the page (default: RUN_DIR/report.html); links stay relative",
    )
    p.set_defaults(command="report")


def run(args: argparse.Namespace) -> int:
    from distlab.report import run_html
    from distlab.report.run_digest import digest_file

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        what = "is a file" if run_dir.exists() else "no such directory"
        raise UsageError(f"{args.run_dir}: {what}; give a run directory, as .distlab/runs/<run>")
    events = run_dir / run_html.EVENTS_NAME
    if not events.is_file():
        raise UsageError(
            f"{args.run_dir}: no {run_html.EVENTS_NAME} in this directory; "
            "give a run directory, as .distlab/runs/<run>"
        )
    try:
        digest = digest_file(events)
    except OSError as e:
        raise UsageError(f"{events}: cannot read: {e.strerror or e}") from None
    if digest.events == 0:
        why = f" (first: {digest.first_problem})" if digest.first_problem else ""
        raise UsageError(f"{events}: holds no distlab events{why}")
    path = run_html.write(run_dir, args.output, digest=digest)
    print(f"distlab: wrote {path}")
    return 0
