"""`distlab doctor`: check this machine can run the lab."""

from __future__ import annotations

import argparse
from typing import Any

from distlab.errors import ExitCode

DESCRIPTION = """\
Check that this machine can run the lab: Python version, installed packages,
the config file, the node command, PostgreSQL (the DSN if one is set, else
binaries for a throwaway server), free loopback ports, a writable run
directory, processes left over from earlier runs, and the terminal.

Prints a table with the fix for every failing check. Exit 0 when every
required check passes, 1 when one fails, 2 when the config file is invalid.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "doctor",
        help="check this machine can run the lab",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(command="doctor")


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from distlab.cli.output import console, error
    from distlab.config import load
    from distlab.doctor import run_checks
    from distlab.errors import ConfigError

    config, config_error = None, None
    try:
        config = load(args.config)
    except ConfigError as e:
        config_error = e.message
    checks = run_checks(config, config_error)

    out = console()
    table = Table(title="distlab doctor", title_justify="left", show_lines=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("found")
    table.add_column("fix")
    styles = {"ok": "green", "FAIL": "bold red", "warn": "yellow"}
    for check in checks:
        table.add_row(
            check.name,
            f"[{styles[check.status]}]{check.status}[/]",
            check.detail,
            check.fix if not check.ok else "",
        )
    out.print(table)
    failed = [c for c in checks if c.required and not c.ok]
    if config_error:
        error(config_error)
        return int(ExitCode.USAGE)
    # The table wraps long text; the problems are repeated whole, one per line,
    # so they can be read in a narrow terminal and copied from a CI log.
    for check in checks:
        if not check.ok:
            out.print(f"{check.status} {check.name}: {check.detail}", soft_wrap=True)
            if check.fix:
                out.print(f"  fix: {check.fix}", soft_wrap=True)
    if failed:
        out.print(f"{len(failed)} required check(s) failed: {', '.join(c.name for c in failed)}")
        return int(ExitCode.FAILED)
    out.print("all required checks passed")
    return int(ExitCode.OK)
