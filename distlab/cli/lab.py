"""`distlab lab`: start the cluster and a workload; inject faults from the keyboard."""

from __future__ import annotations

import argparse
from typing import Any

from distlab.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "lab",
        help="start the cluster and a workload; inject faults from the keyboard",
        description="Start the cluster and a workload; inject faults from the keyboard.",
    )
    p.set_defaults(command="lab")


def run(args: argparse.Namespace) -> int:
    raise UsageError("'distlab lab' is not built yet")
