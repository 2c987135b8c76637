"""`distlab list`: list the layers and the tests each one collects."""

from __future__ import annotations

import argparse
from typing import Any

from distlab.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "list",
        help="list the layers and the tests each one collects",
        description="List the layers and the tests each one collects.",
    )
    p.set_defaults(command="list")


def run(args: argparse.Namespace) -> int:
    raise UsageError("'distlab list' is not built yet")
