"""`distlab history`: list the last runs with verdict, duration and seed."""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from distlab.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "history",
        help="list the last runs with verdict, duration and seed",
        description="List the last runs (newest first) from .distlab/history.sqlite "
        "next to the config file: verdict, duration, seed, branch and run directory.",
    )
    p.add_argument(
        "-n", "--limit", type=int, default=20, metavar="N", help="how many runs (default 20)"
    )
    p.add_argument("--branch", metavar="NAME", help="only runs on this git branch")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    p.set_defaults(command="history")


def run(args: argparse.Namespace) -> int:
    from distlab.cli.output import console
    from distlab.report.history import RunHistory

    if args.limit < 1:
        raise UsageError(f"--limit must be a whole number of at least 1, got {args.limit}")
    path = _history_path(args.config)
    records = RunHistory(path).recent(args.limit, branch=args.branch)
    if args.json:
        for r in records:
            print(json.dumps(asdict(r)))
        return 0
    if not records:
        where = f" on branch {args.branch!r}" if args.branch else ""
        print(f"no runs recorded{where} yet (history: {path})")
        return 0
    from rich.table import Table

    table = Table(box=None, pad_edge=False, collapse_padding=True, header_style="bold")
    for column in ("id", "started", "branch", "verdict", "exit", "duration", "seed", "run dir"):
        table.add_column(
            column,
            justify="right" if column in ("id", "exit") else "left",
            overflow="fold",  # a run dir is copied from here: wrap it, never cut it
            no_wrap=column != "run dir",
        )
    for r in records:
        verdict = r.verdict if not r.gates_failed else f"{r.verdict} ({r.gates_failed} gates)"
        table.add_row(
            str(r.id),
            _when(r.started),
            r.branch,
            verdict,
            str(r.exit_code),
            _duration(r.duration_s),
            str(r.seed),
            _short(r.run_dir),
        )
    console().print(table)
    return 0


def _history_path(config: str) -> Path:
    """The history the runner writes: next to ``[project] run_dir`` of the config."""
    from distlab.report.history import history_path

    if not Path(config).is_file():
        return history_path(config)
    from distlab.config.loader import load

    return history_path(config, load(config).project.run_dir)


def _short(path: str) -> str:
    """A run directory relative to here when it is below here: tables stay narrow."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def _when(started: float) -> str:
    """A start time as a date; a history written by another tool may hold any number."""
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(started))
    except (OverflowError, OSError, ValueError):
        return f"{started:g}?"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return f"{seconds:g}?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"
