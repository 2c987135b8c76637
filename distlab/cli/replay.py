"""`distlab replay RUN_DIR | events.jsonl`: show a finished run again -- in the
dashboard on a terminal, else (or with --plain) as the ``--ci`` progress
printer showed it live."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from distlab.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="show a finished run's events again",
        description="Show a finished run's events again, as `distlab --ci` printed them live.",
    )
    p.add_argument(
        "path", metavar="RUN_DIR|events.jsonl", help="a run directory or its events file"
    )
    p.add_argument(
        "--no-tracebacks", action="store_true", help="one line per failure, without its traceback"
    )
    p.add_argument(
        "--plain", action="store_true", help="print lines even on a terminal (no dashboard)"
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no line per passed or skipped test, as `distlab --ci -q`",
    )
    p.add_argument(
        "--speed",
        type=float,
        metavar="X",
        help="dashboard only: play at X times the recorded pace (default: show the end at once)",
    )
    p.set_defaults(command="replay")


def events_file(arg: str) -> Path:
    """The events file named by ``arg`` (a run directory or the file itself)."""
    path = Path(arg)
    if path.is_dir():
        path = path / "events.jsonl"
        if not path.is_file():
            raise UsageError(f"{arg}: no events.jsonl in this directory; give a run directory")
    elif not path.exists():
        raise UsageError(f"{arg}: no such file or directory; give a run directory or events.jsonl")
    return path


def run(args: argparse.Namespace) -> int:
    from distlab.events import ReadStats, read_events
    from distlab.runner.progress import ProgressPrinter

    path = events_file(args.path)
    # TEXTUAL_DRIVER: `textual serve` runs us on a pipe but shows the dashboard in a browser.
    if (sys.stdout.isatty() or os.environ.get("TEXTUAL_DRIVER")) and not args.plain:
        return _dashboard(path, args.speed)
    printer = ProgressPrinter(
        sys.stdout, tracebacks=not args.no_tracebacks, each_test=not args.quiet
    )
    stats = ReadStats()
    try:
        for event in read_events(path, stats):
            printer(event)
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror}") from None
    if stats.events == 0:
        why = f" (first: {stats.first_problem})" if stats.first_problem else ""
        raise UsageError(f"{path}: holds no distlab events{why}")
    if stats.skipped:
        print(
            f"distlab: warning: {stats.skipped} line(s) could not be read as events; "
            f"first: {stats.first_problem}",
            file=sys.stderr,
        )
    return 0


def _dashboard(path: Path, speed: float | None) -> int:
    """The same events in the dashboard (stdout is a terminal and --plain not given)."""
    if speed is not None and not speed > 0:
        raise UsageError(f"--speed must be a number > 0, got {speed:g}")
    from distlab.tui.backend import ReplayBackend
    from distlab.tui.launch import run_dashboard

    return run_dashboard(ReplayBackend(path, speed=speed))
