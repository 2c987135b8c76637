"""The ``distlab`` command: global options, subcommands, and the one place
where errors become a one-line message and an exit code."""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
from collections.abc import Sequence

from distlab import __version__
from distlab.cli.output import error
from distlab.errors import DistlabError, ExitCode, UsageError
from distlab.seeds import parse_seed

# Subcommand name -> module in distlab.cli providing add_parser(subparsers) and run(args).
COMMANDS = {
    "doctor": "distlab.cli.doctor",
    "list": "distlab.cli.list_tests",
    "cluster": "distlab.cli.cluster",
    "check": "distlab.cli.check",
    "history": "distlab.cli.history",
    "replay": "distlab.cli.replay",
    "lab": "distlab.cli.lab",
    "merge": "distlab.cli.merge",
    "report": "distlab.cli.report",
    "init": "distlab.cli.init",
}

DESCRIPTION = """\
distlab runs layered pytest suites (unit, concurrency, distributed, chaos,
performance) against a cluster of real local processes, injects faults,
checks what clients saw, and gates a release on thresholds from config.toml.

With no command it opens the dashboard; with --ci it runs headless and
writes JUnit XML and a JSON summary.
"""

EPILOG = """\
exit codes: 0 gates passed, 1 a gate or required layer failed,
            2 bad usage or config, 3 the lab broke, 4 incomplete (a gate
            of a selected layer was not evaluated), 130 interrupted
examples:
  distlab                       open the dashboard on ./config.toml
  distlab --ci                  run every layer headless, write reports/junit.xml
  distlab --ci --layers unit    run one layer
  distlab --ci --seed 42        replay the schedule of run 42
  distlab doctor                check this machine can run the lab
"""


def _seed(text: str) -> int:
    try:
        return parse_seed(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class _Parser(argparse.ArgumentParser):
    """argparse with our one-line error format and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        error(f"{message} (see '{self.prog} --help')")
        raise SystemExit(ExitCode.USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="distlab",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_global_options(parser)
    run = parser.add_argument_group("headless run (--ci)")
    run.add_argument(
        "--ci", action="store_true", help="run headless: plain progress, JUnit XML, summary.json"
    )
    run.add_argument("--layers", metavar="L,L", help="only these layers, e.g. unit,chaos")
    run.add_argument(
        "--junit-xml", metavar="PATH", help="JUnit XML path (default: reports/junit.xml)"
    )
    run.add_argument("--long", action="store_true", help="run chaos scenarios at full length")
    run.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="--ci: no line per passed or skipped test; layers, failures and gates only",
    )
    run.add_argument(
        "--shard",
        metavar="K/N",
        help="run shard K of N: a deterministic share of each layer's tests, balanced by "
        "the durations in the run history; reports go to reports/shard-K-of-N; judge the "
        "gates with `distlab merge`",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module_name in COMMANDS.values():
        module = importlib.import_module(module_name)
        module.add_parser(sub)
    # --config and --seed work before or after the command; SUPPRESS keeps a
    # value given before the command from being reset by the subparser.
    for command_parser in sub.choices.values():
        add_global_options(command_parser, suppress_defaults=True)
    return parser


def add_global_options(parser: argparse.ArgumentParser, *, suppress_defaults: bool = False) -> None:
    """--config, --seed and --version, on the top-level parser and every command."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS if suppress_defaults else "config.toml",
        help="config file (default: ./config.toml)",
    )
    parser.add_argument(
        "--seed",
        metavar="N",
        type=_seed,
        default=argparse.SUPPRESS if suppress_defaults else None,
        help="root seed for every random choice (default: random, printed)",
    )
    if not suppress_defaults:
        parser.add_argument("--version", action="version", version=f"distlab {__version__}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "shard", None) and (args.command or not args.ci):
            raise UsageError("--shard K/N goes with --ci: `distlab --ci --shard 1/3`")
        if args.command:
            module = importlib.import_module(COMMANDS[args.command])
            code = module.run(args)
        elif args.ci:
            from distlab.cli import ci

            code = ci.run(args)
        else:
            from distlab.cli import dashboard

            code = dashboard.run(args)
    except DistlabError as e:
        error(e.message)
        return int(e.exit_code)
    except KeyboardInterrupt:
        error("interrupted")
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitCode.OK)
    except OSError as e:
        # A full or read-only disk under the run dir or the reports is the lab
        # breaking (exit 3), not a test failing (exit 1): say so in one line.
        if e.errno not in _STORAGE_ERRNOS:
            raise
        where = f" ({e.filename})" if e.filename else ""
        error(f"cannot write{where}: {e.strerror}; free space or set [project] run_dir elsewhere")
        return int(ExitCode.LAB)
    return int(code)


_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


if __name__ == "__main__":
    sys.exit(main())
