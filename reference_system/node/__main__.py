"""Entry point: ``python -m reference_system.node``; exit 2 with one line on bad arguments."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sys
from collections.abc import Coroutine
from typing import Any

from reference_system.bugs import BUGS_ENV
from reference_system.node.options import OptionsError, parse
from reference_system.node.server import serve

PROG = "reference_system.node"


def _seed(node_id: str) -> int:
    # DISTLAB_SEED makes election timeouts replayable; each node gets its own stream.
    root = os.environ.get("DISTLAB_SEED") or os.environ.get("REFSYS_SEED") or str(os.getpid())
    return int.from_bytes(
        hashlib.blake2b(f"{root}:{node_id}".encode(), digest_size=8).digest(), "big"
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the node until SIGTERM, return the exit code."""
    try:
        opts = parse(sys.argv[1:] if argv is None else argv, os.environ.get(BUGS_ENV, ""))
    except OptionsError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s {opts.id} %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    if opts.bugs:
        logging.getLogger(PROG).warning("planted bugs on: %s", ", ".join(sorted(opts.bugs)))
    try:
        return _run(serve(opts, _seed(opts.id)))
    except OSError as exc:
        # Most often a port that is already taken.
        print(f"{PROG}: {opts.id}: cannot listen or use the data dir: {exc}", file=sys.stderr)
        return 1


def _run(main: Coroutine[Any, Any, int]) -> int:
    """Run the node on uvloop where it is installed (cheaper per message), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


if __name__ == "__main__":
    sys.exit(main())
