"""`distlab --ci`: run the layers headless, print progress as plain lines,
then a table of layers and gates; write JUnit XML and summary.json; exit
0/1/2/3 (DESIGN.md)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

# After this long without a line, --ci says what the running layers are doing.
HEARTBEAT_QUIET_S = 30.0
HEARTBEAT_CHECK_S = 5.0


def run(args: argparse.Namespace) -> int:
    # Heavy imports here, not at module level: `distlab --help` stays fast.
    from distlab.cli.output import console
    from distlab.config.loader import load
    from distlab.runner import Run
    from distlab.runner.progress import ProgressPrinter
    from distlab.runner.shard import parse_shard, shard_reports
    from distlab.runner.table import print_summary

    config = load(args.config)
    shard = parse_shard(args.shard) if getattr(args, "shard", None) else None
    printer = ProgressPrinter(sys.stdout, each_test=not args.quiet)
    if shard is not None:
        printer.line(f"distlab: shard {shard}: collecting the layers to split them")
    run = Run(
        config,
        layers=args.layers,
        seed=args.seed,
        junit_xml=Path(args.junit_xml) if args.junit_xml else None,
        reports_dir=shard_reports(config, shard) if shard is not None else None,
        on_event=printer,
        long=bool(getattr(args, "long", False)),
        shard=shard,
    )
    if run.shard is not None:
        share = ", ".join(f"{n} {layer}" for layer, n in run.shard.to_dict()["assigned"].items())
        printer.line(
            f"distlab: shard {shard} runs {share or 'no tests'}"
            f" (balanced by {run.shard.balanced_by}); gates are judged by `distlab merge`"
        )
    # The seed comes first so that even a run killed at once can be replayed.
    printer.line(f"distlab: seed {run.seed} (replay with --seed {run.seed})")
    # A cancelled CI job gets SIGTERM: stop like Ctrl-C, so the layers' process
    # trees are killed and the reports of what ran are still written. SIGINT is
    # set too: a job started in the background of a non-interactive shell
    # inherits SIGINT ignored, and Ctrl-C (or a CI's interrupt) must still stop it.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    previous_int = signal.signal(signal.SIGINT, _interrupt)
    quiet = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(printer, quiet), daemon=True)
    beat.start()
    try:
        result = run.execute()
    finally:
        quiet.set()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    print_summary(result, console(sys.stdout))
    written = [p for p in (run.junit_path, run.summary_path) if p in run.written]
    if written:
        printer.line(f"distlab: wrote {' and '.join(map(str, written))}")
    if run.report_path is not None:
        printer.line(f"distlab: run report {run.report_path}")
    elif run.report_problem:
        printer.line(f"distlab: warning: {run.report_problem}")
    return result.exit_code


def _heartbeat(printer: Any, done: threading.Event) -> None:
    while not done.wait(HEARTBEAT_CHECK_S):
        printer.heartbeat(HEARTBEAT_QUIET_S)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
