"""`distlab doctor`: check this machine can run the lab (Python, packages, PostgreSQL, ports, config)."""

from __future__ import annotations

import argparse
from typing import Any

from distlab.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "doctor",
        help="check this machine can run the lab (Python, packages, PostgreSQL, ports, config)",
        description="Check this machine can run the lab (python, packages, postgresql, ports, config).",
    )
    p.set_defaults(command="doctor")


def run(args: argparse.Namespace) -> int:
    raise UsageError("'distlab doctor' is not built yet")
