"""``python -m reference_system.processor``: run one queue processor until SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from reference_system import bugs
from reference_system.processor.worker import Options, Processor, install_signal_handlers

DSN_ENV = "REFSYS_PG_DSN"


def _positive(kind: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` greater than 0, with a one-line error."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be greater than 0, got {text!r}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reference_system.processor",
        description="Claim records from the PostgreSQL work queue, process them, mark them "
        "completed or failed. SIGTERM: finish the batch in hand, release the rest, exit 0.",
    )
    p.add_argument("--dsn", default=os.environ.get(DSN_ENV, ""), help=f"database (or ${DSN_ENV})")
    p.add_argument("--instance-id", default="", help="unique name (default: host-pid-random)")
    p.add_argument("--queue", default="default", help="which queue to work on")
    p.add_argument("--batch", type=_positive(int, "--batch"), default=10, help="records per claim")
    p.add_argument(
        "--poll",
        type=_positive(float, "--poll"),
        default=0.2,
        help="seconds between claims on an empty queue",
    )
    p.add_argument(
        "--heartbeat",
        type=_positive(float, "--heartbeat"),
        default=1.0,
        help="seconds between heartbeats",
    )
    p.add_argument(
        "--stale-after",
        type=_positive(float, "--stale-after"),
        default=10.0,
        help="seconds of silence after which a processor's claims are reclaimed",
    )
    p.add_argument(
        "--backoff-base",
        type=_positive(float, "--backoff-base"),
        default=0.5,
        help="first retry delay in seconds (doubles per attempt)",
    )
    p.add_argument(
        "--backoff-cap",
        type=_positive(float, "--backoff-cap"),
        default=60.0,
        help="longest retry delay in seconds",
    )
    p.add_argument(
        "--term-grace",
        type=float,
        default=10.0,
        help="seconds after SIGTERM to keep working on the batch in hand",
    )
    p.add_argument(
        "--db-timeout",
        type=_positive(float, "--db-timeout"),
        default=10.0,
        help="seconds a database call may take before its connection is cut (a silent network)",
    )
    p.add_argument(
        "--pool-size", type=_positive(int, "--pool-size"), default=3, help="connection pool size"
    )
    p.add_argument(
        "--exit-when-empty",
        action="store_true",
        help="exit 0 once nothing is pending or processing",
    )
    p.add_argument(
        "--max-batches", type=int, default=0, help="stop after this many batches (0: no limit)"
    )
    p.add_argument("--no-migrate", action="store_true", help="do not create or upgrade the schema")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.dsn:
        print(f"processor: no database: pass --dsn or set {DSN_ENV}", file=sys.stderr)
        return 2
    try:
        bugs.active()
    except ValueError as exc:
        print(f"processor: {exc}", file=sys.stderr)
        return 2
    options = Options(
        dsn=args.dsn,
        instance_id=args.instance_id,
        queue=args.queue,
        batch=args.batch,
        poll_s=args.poll,
        heartbeat_s=args.heartbeat,
        stale_after_s=args.stale_after,
        backoff_base_s=args.backoff_base,
        backoff_cap_s=args.backoff_cap,
        term_grace_s=args.term_grace,
        db_timeout_s=args.db_timeout,
        pool_size=args.pool_size,
        exit_when_empty=args.exit_when_empty,
        max_batches=args.max_batches,
        migrate=not args.no_migrate,
    )
    processor = Processor(options)
    install_signal_handlers(processor)
    code = processor.run()
    print(json.dumps(asdict(processor.tally)), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
