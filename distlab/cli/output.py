"""Terminal output: colour only on a TTY and never with ``NO_COLOR``."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console


def use_color(stream: TextIO | None = None) -> bool:
    """Whether to colour output written to ``stream`` (stdout by default)."""
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def console(stream: TextIO | None = None) -> Console:
    """A rich console that follows ``use_color`` and never guesses a terminal."""
    stream = stream or sys.stdout
    color = use_color(stream)
    return Console(
        file=stream,
        color_system="auto" if color else None,
        no_color=not color,
        force_terminal=color,
        highlight=False,
        soft_wrap=False,
        width=None if color else 100,
    )


def error(message: str) -> None:
    """Print a one-line error to stderr."""
    print(f"distlab: error: {message}", file=sys.stderr)
