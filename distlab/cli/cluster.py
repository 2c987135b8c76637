"""`distlab cluster`: start the configured cluster by hand (distlab cluster up)."""

from __future__ import annotations

import argparse
from typing import Any

from distlab.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "cluster",
        help="start the configured cluster by hand (distlab cluster up)",
        description="Start the configured cluster by hand (distlab cluster up).",
    )
    p.set_defaults(command="cluster")


def run(args: argparse.Namespace) -> int:
    raise UsageError("'distlab cluster' is not built yet")
