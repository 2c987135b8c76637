"""A small PostgreSQL layer for tests/test_secrets.py: it uses the server from
DISTLAB_PG_DSN, fails in the ways a real suite does (the library's own error,
an assertion that shows the DSN) and prints to stdout and stderr."""

from __future__ import annotations

import sys

import psycopg


def test_the_server_answers(pg) -> None:
    print("connecting to", pg.dsn)
    print("connecting to", pg.dsn, file=sys.stderr)
    with psycopg.connect(pg.dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_an_assertion_that_shows_the_dsn(pg) -> None:
    assert pg.dsn.endswith("/no-such-db")


def test_the_library_error(pg) -> None:
    from psycopg.conninfo import make_conninfo

    psycopg.connect(make_conninfo(pg.dsn, dbname="no_such_db"), connect_timeout=5)


def test_raised_with_the_dsn_in_the_message(pg) -> None:
    raise RuntimeError(f"cannot use {pg.dsn}")
