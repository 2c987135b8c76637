"""`distlab check`: check history files for linearizability and print their stats.

Exit code: the worst over all files, ranked bad input (2) > invalid (1) >
unknown (4) > valid (0).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from distlab.errors import ExitCode, UsageError

EPILOG = """\
exit codes: 0 valid, 1 invalid, 4 unknown (out of budget), 2 bad input
history format: one JSON object per line, e.g.
  {"process": 3, "type": "invoke", "f": "write", "key": "x", "value": 5, "time": 1234567}
  type invoke|ok|fail|info, time in ns; see docs/checkers.md
examples:
  distlab check --model register history.jsonl
  distlab check --model kv --budget 10 .distlab/runs/latest/
  distlab check --model mypkg.models:Counter counter.jsonl
  distlab check --model list-append --consistency snapshot-isolation txns.jsonl
"""

# Worst first: a file we could not read outranks a finding.
_RANK = {ExitCode.USAGE: 3, ExitCode.FAILED: 2, ExitCode.UNKNOWN: 1, ExitCode.OK: 0}


# distlab.checkers.transactions.CONSISTENCY_MODELS, spelled out so that building
# the parser (on every `distlab` command) does not import the checkers.
CONSISTENCY_MODELS = ("serializable", "strict-serializable", "snapshot-isolation", "read-committed")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="check history files for linearizability and print their stats",
        description="Check Jepsen-style JSON-lines histories for linearizability\n"
        "(WGL per key, time-boxed) and print throughput, latency and availability.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        required=True,
        metavar="MODEL",
        help="register | kv | module:Class (a distlab.checkers.Model subclass) for "
        "linearizability; list-append | rw-register for transactions",
    )
    p.add_argument(
        "--consistency",
        choices=CONSISTENCY_MODELS,
        default="serializable",
        help="transactions only: what counts as an anomaly (default serializable)",
    )
    p.add_argument(
        "--budget",
        type=_budget,
        default=60.0,
        metavar="SECONDS",
        help="time budget per file; past it the verdict is unknown (default 60)",
    )
    p.add_argument(
        "--all-keys",
        action="store_true",
        help="search every key to the end and report each bad one (default: stop at the "
        "first invalid key, as the verdict is then final)",
    )
    p.add_argument(
        "--explain",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="counterexample text and HTML timeline for invalid files (default on; "
        "--no-explain gives the verdict only, faster on invalid histories)",
    )
    p.add_argument(
        "--html-dir",
        metavar="DIR",
        help="where to write <name>.timeline.html for invalid files (default: beside each file)",
    )
    p.add_argument(
        "--stats",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print stats per file (default: on for one file, off for several)",
    )
    p.add_argument(
        "paths", nargs="+", metavar="FILE|DIR", help="history files or directories of *.jsonl"
    )
    p.set_defaults(command="check")


def _budget(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--budget must be seconds > 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"--budget must be seconds > 0, got {text!r}")
    return value


def load_model(spec: str) -> Any:
    """A built-in model by name, or ``module:Class`` imported and instantiated."""
    from distlab.checkers.models import MODELS, Model
    from distlab.checkers.txn import TXN_MODELS

    if spec in MODELS:
        return MODELS[spec]
    if spec in TXN_MODELS:
        return TXN_MODELS[spec]
    if ":" not in spec:
        names = sorted([*MODELS, *TXN_MODELS])
        raise UsageError(
            f"--model: unknown model {spec!r}; choose {', '.join(names)}, "
            "or module:Class for your own"
        )
    module_name, _, cls_name = spec.partition(":")
    # The `distlab` script's sys.path starts at its own bin directory; a model
    # module in the current directory should be found, as with `python -m`.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as e:
        raise UsageError(f"--model: cannot load {spec!r} ({e})") from None
    # Check the class before calling it: calling whatever was named (a Popen,
    # a function) could crash or run something (issue 14 item 8).
    if isinstance(cls, type) and not issubclass(cls, Model):
        raise UsageError(f"--model: {spec!r} is not a distlab.checkers.Model subclass")
    if not isinstance(cls, type | Model):
        raise UsageError(f"--model: {spec!r} is not a distlab.checkers.Model subclass")
    try:
        model = cls() if isinstance(cls, type) else cls
    except Exception as e:  # the user's own class: its failure is a usage error, not ours
        raise UsageError(f"--model: cannot create {spec!r}: {type(e).__name__}: {e}") from None
    return model


def run(args: argparse.Namespace) -> int:
    from distlab.checkers import history as hist
    from distlab.checkers import timeline
    from distlab.checkers.linearizability import check_linearizable
    from distlab.checkers.stats import history_stats
    from distlab.checkers.txn import TxnModel

    model = load_model(args.model)
    html_dir = Path(args.html_dir) if args.html_dir else None
    if html_dir is not None:
        if html_dir.exists() and not html_dir.is_dir():
            raise UsageError(f"--html-dir: {html_dir} exists and is not a directory")
        try:
            html_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"--html-dir: cannot create {html_dir}: {e.strerror}") from None
    worst = ExitCode.OK
    files: list[Path] = []
    for raw in args.paths:
        try:
            files.extend(hist.iter_files([raw]))
        except hist.HistoryError as e:
            print(f"distlab: error: {e.message}", file=sys.stderr)
            worst = ExitCode.USAGE
    show_stats = args.stats if args.stats is not None else len(files) == 1
    for path in files:
        t0 = time.monotonic()
        try:
            history = hist.load(path, model)
        except hist.HistoryError as e:
            print(f"distlab: error: {e.message}", file=sys.stderr)
            worst = _worse(worst, ExitCode.USAGE)
            continue
        if isinstance(model, TxnModel):
            try:
                code = _check_transactions(path, history, model, args, html_dir)
            except hist.HistoryError as e:
                print(f"distlab: error: {e.message}", file=sys.stderr)
                code = ExitCode.USAGE
            worst = _worse(worst, code)
            if show_stats:
                print(_indent("\n".join(history_stats(history).lines())))
            continue
        if not any(op.type == "ok" for op in history.ops):
            # Nothing happened for sure, so nothing can contradict the model:
            # "valid" would read as a pass for a system that never answered.
            print(f"{path}: no verdict: no operation succeeded ({len(history.ops)} ops, none ok)")
            worst = _worse(worst, ExitCode.UNKNOWN)
            continue
        result = check_linearizable(
            history, model, budget_s=args.budget, explain=args.explain, all_keys=args.all_keys
        )
        # The verdict line's time is the check's; explaining is extra, on demand.
        elapsed = time.monotonic() - t0
        torn = " (torn last line skipped)" if history.torn_tail else ""
        print(f"{path}: {result.summary()} in {elapsed:.3f} s{torn}")
        code = result.verdict.exit_code
        worst = _worse(worst, code)
        for key in result.invalid[:3] if args.explain else []:
            if key.counterexample is not None:
                print(_indent(key.counterexample.text()))
        if len(result.invalid) > 3:
            print(f"  ... and {len(result.invalid) - 3} more invalid keys (see the timeline)")
        if result.invalid and args.explain:
            target = timeline.default_path(path, html_dir)
            try:
                timeline.write(result, str(path), target)
                print(f"  timeline: {target}")
            except OSError as e:
                print(f"  timeline not written: {target}: {e.strerror or e}")
        if show_stats:
            print(_indent("\n".join(history_stats(history).lines())))
    return int(worst)


def _check_transactions(
    path: Path, history: Any, model: Any, args: argparse.Namespace, html_dir: Path | None
) -> ExitCode:
    from distlab.checkers import txn_report
    from distlab.checkers.transactions import check_transactions

    t0 = time.monotonic()
    result = check_transactions(history, model, args.consistency)
    elapsed = time.monotonic() - t0
    torn = " (torn last line skipped)" if history.torn_tail else ""
    print(f"{path}: {result.summary()} in {elapsed:.3f} s{torn}")
    if args.explain and result.anomalies:
        print(_indent("\n".join(result.report().splitlines()[1:])))
        target = txn_report.default_path(path, html_dir)
        try:
            txn_report.write(result, str(path), target)
            print(f"  anomalies: {target}")
        except OSError as e:
            print(f"  anomalies page not written: {target}: {e.strerror or e}")
    return result.verdict.exit_code


def _worse(a: ExitCode, b: ExitCode) -> ExitCode:
    return a if _RANK[a] >= _RANK[b] else b


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
