"""`distlab check`: check a history file for linearizability and print its stats."""

from __future__ import annotations

import argparse
from typing import Any

from distlab.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="check a history file for linearizability and print its stats",
        description="Check a history file for linearizability and print its stats.",
    )
    p.set_defaults(command="check")


def run(args: argparse.Namespace) -> int:
    raise UsageError("'distlab check' is not built yet")
