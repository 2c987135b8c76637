"""`distlab history`: list the last runs with verdict, duration and seed."""

from __future__ import annotations

import argparse
from typing import Any

from distlab.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "history",
        help="list the last runs with verdict, duration and seed",
        description="List the last runs with verdict, duration and seed.",
    )
    p.set_defaults(command="history")


def run(args: argparse.Namespace) -> int:
    raise UsageError("'distlab history' is not built yet")
