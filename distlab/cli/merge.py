"""`distlab merge DIR...`: the reports of a sharded CI run (`distlab --ci --shard
K/N` in N jobs) merged into one JUnit, one summary.json and one gate verdict."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "merge",
        help="merge the reports of a sharded run into one verdict",
        description=(
            "Merge the reports of `distlab --ci --shard K/N` jobs into one JUnit XML, one "
            "summary.json and one gate verdict. The gates are evaluated on the merged "
            "results, as an unsharded run would evaluate them. A missing or crashed shard "
            "makes the gates of its layers 'not evaluated' and the verdict INCOMPLETE "
            "(exit 4), never a pass."
        ),
        epilog=(
            "example (the shards' reports downloaded side by side):\n"
            "  distlab merge reports/shard-1-of-3 reports/shard-2-of-3 reports/shard-3-of-3"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("shards", nargs="+", metavar="DIR", help="a shard's reports directory")
    p.add_argument(
        "--shards",
        dest="expected",
        type=int,
        metavar="N",
        help="how many shards there were (default: what the shards recorded)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="where the merged junit.xml and summary.json go (default: the config's reports dir)",
    )
    p.set_defaults(command="merge")


def run(args: argparse.Namespace) -> int:
    from distlab.cli.output import console
    from distlab.config.loader import load
    from distlab.errors import UsageError
    from distlab.runner import outputs, plan
    from distlab.runner.merge import load_shard, merge
    from distlab.runner.table import print_summary
    from distlab.runner.verdict import decide

    if args.expected is not None and args.expected < 1:
        raise UsageError(f"--shards must be a whole number of at least 1, got {args.expected}")
    config = load(args.config)
    shards = [load_shard(d) for d in args.shards]
    out = Path(args.out) if args.out else plan.config_dir(config) / config.project.reports_dir
    junit, summary = out / "junit.xml", out / "summary.json"
    plan.check_writable(summary, "--out")
    merged = merge(config, shards, args.expected)
    merged.exit_code, merged.verdict, merged.reason = decide(merged, [], stopped=False)
    missing = merged.shard["missing"]
    print(
        f"distlab: merged shards {', '.join(map(str, merged.shard['merged']))} of "
        f"{merged.shard['total']}"
        + (f"; MISSING {', '.join(map(str, missing))}" if missing else "")
    )
    for index, why in merged.shard["broken"].items():
        print(f"distlab: shard {index}: {why}")
    written, problems = outputs.write_reports(
        merged, junit=[junit], summary=[summary], shared=config.project.shared_reports
    )
    # The merged run is the real one: the baseline and the durations of the next split.
    note = outputs.record_history(merged, plan.config_dir(config) / config.project.run_dir)
    if note:
        print(f"distlab: warning: {note}", file=sys.stderr)
    print_summary(merged, console(sys.stdout))
    for problem in problems:
        print(f"distlab: error: {problem}", file=sys.stderr)
    if written:
        print(f"distlab: wrote {' and '.join(map(str, written))}")
    return 3 if problems else merged.exit_code
