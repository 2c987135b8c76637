"""A real PostgreSQL for everyone: an external server by DSN, or a throwaway one.

    from distlab.pg import Postgres
    with Postgres.start(config.postgres, run_dir) as pg:
        psycopg.connect(pg.dsn)
        pg.kill(); pg.restart()

See docs/postgres.md.
"""

from __future__ import annotations

from distlab.pg.binaries import BinarySet, embedded_bin_dir, find_binaries, system_bin_dirs
from distlab.pg.probe import probe, redact
from distlab.pg.processes import free_port, unprivileged_account
from distlab.pg.redaction import redact_text
from distlab.pg.server import Postgres, make_dsn

__all__ = [
    "BinarySet",
    "Postgres",
    "embedded_bin_dir",
    "find_binaries",
    "free_port",
    "make_dsn",
    "probe",
    "redact",
    "redact_text",
    "system_bin_dirs",
    "unprivileged_account",
]
