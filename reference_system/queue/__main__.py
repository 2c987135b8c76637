"""``python -m reference_system.queue``: manage the work queue from a shell.

python -m reference_system.queue --dsn DSN migrate
python -m reference_system.queue --dsn DSN enqueue '{"x": 1}' ['{"y": 2}' ...]
python -m reference_system.queue --dsn DSN enqueue --file records.jsonl   # COPY
python -m reference_system.queue --dsn DSN status
python -m reference_system.queue --dsn DSN cleanup --older-than 3600
python -m reference_system.queue --dsn DSN health       # exit 1 if unreachable
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

DSN_ENV = "REFSYS_PG_DSN"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reference_system.queue", description="Manage the PostgreSQL work queue."
    )
    p.add_argument("--dsn", default=os.environ.get(DSN_ENV, ""), help=f"database (or ${DSN_ENV})")
    p.add_argument("--queue", default="default", help="which queue")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create or upgrade the schema")
    enq = sub.add_parser(
        "enqueue", help="add records (JSON payloads, or a JSON-lines file via COPY)"
    )
    enq.add_argument("payloads", nargs="*", help="one JSON value per record")
    enq.add_argument("--file", type=Path, help="a JSON-lines file, one payload per line")
    enq.add_argument("--max-attempts", type=int, default=5)
    sub.add_parser("status", help="record counts per status")
    clean = sub.add_parser("cleanup", help="delete completed records")
    clean.add_argument("--older-than", type=float, default=0.0, help="seconds since completion")
    sub.add_parser("health", help="database, counts, lag and processors as JSON")
    return p


def _payloads(args: argparse.Namespace) -> list[Any]:
    texts: list[tuple[str, str]] = [(f"argument {i + 1}", t) for i, t in enumerate(args.payloads)]
    if args.file is not None:
        try:
            lines = args.file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"{args.file}: cannot read: {exc.strerror}") from None
        texts += [(f"{args.file}:{n}", line) for n, line in enumerate(lines, 1) if line.strip()]
    out = []
    for where, text in texts:
        try:
            out.append(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{where}: not JSON ({exc.msg}); give one JSON value per record"
            ) from None
    if not out:
        raise ValueError("enqueue: no payloads; give JSON values or --file")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.dsn:
        print(f"queue: no database: pass --dsn or set {DSN_ENV}", file=sys.stderr)
        return 2
    import psycopg

    from reference_system.queue import manage, schema

    if args.command == "health":
        report = manage.health(lambda: psycopg.connect(args.dsn, connect_timeout=5))
        print(json.dumps(report.as_dict(), indent=2))
        return 0 if report.database_ok else 1
    try:
        payloads = _payloads(args) if args.command == "enqueue" else []
        with psycopg.connect(args.dsn, autocommit=True, connect_timeout=10) as conn:
            if args.command == "migrate":
                print(
                    f"applied {schema.migrate(conn)} migration(s); schema version {schema.LATEST}"
                )
            elif args.command == "enqueue":
                n = manage.enqueue_bulk(
                    conn, payloads, queue=args.queue, max_attempts=args.max_attempts
                )
                print(f"enqueued {n} record(s)")
            elif args.command == "status":
                print(json.dumps(manage.status_counts(conn, args.queue)))
            elif args.command == "cleanup":
                print(f"deleted {manage.cleanup_completed(conn, args.older_than)} record(s)")
    except ValueError as exc:
        print(f"queue: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        print(f"queue: database error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
