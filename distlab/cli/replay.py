"""`distlab replay`: show a finished run's events again."""

from __future__ import annotations

import argparse
from typing import Any

from distlab.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="show a finished run's events again",
        description="Show a finished run's events again.",
    )
    p.set_defaults(command="replay")


def run(args: argparse.Namespace) -> int:
    raise UsageError("'distlab replay' is not built yet")
