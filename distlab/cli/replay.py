"""`distlab replay RUN_DIR | events.jsonl`: print a finished run's events
again, as the ``--ci`` progress printer showed them live."""

from __future__ import annotations

import argparse
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
    p.add_argument("path", metavar="RUN_DIR|events.jsonl", help="a run directory or its events file")
    p.add_argument(
        "--no-tracebacks", action="store_true", help="one line per failure, without its traceback"
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
    from distlab.events import read_events
    from distlab.runner.progress import ProgressPrinter

    path = events_file(args.path)
    printer = ProgressPrinter(sys.stdout, tracebacks=not args.no_tracebacks)
    try:
        count = 0
        for event in read_events(path):
            printer(event)
            count += 1
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file; expected JSON lines of distlab events") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror}") from None
    if count == 0:
        raise UsageError(f"{path}: holds no distlab events (JSON objects with a 'kind')")
    return 0
