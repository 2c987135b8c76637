"""PostgreSQL faults, seen by a client: connections dropped, the server killed and back,
the client-to-database link cut and slowed (through a distlab.net proxy)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from distlab.nemesis import Lab, Nemesis, Schedule, make_fault
from distlab.net import DATABASE, Network
from distlab.pg import Postgres

LONG = 60.0


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """A server of our own: these tests kill it."""
    server = Postgres.start(run_dir=tmp_path_factory.mktemp("pg"), throwaway=True)
    yield server
    server.close()


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Network]:
    with Network.start(tmp_path, in_process=True) as network:
        yield network


def play(lab: Lab, *faults) -> Nemesis:
    n = Nemesis(lab, Schedule(tuple(faults), name="db"), seed=1)
    n.start()
    deadline = time.monotonic() + 30
    while len(n.applied) < len(faults):
        assert time.monotonic() < deadline, "faults did not start"
        time.sleep(0.02)
    assert not n.errors, n.errors
    return n


def proxied_dsn(pg: Postgres, port: int) -> str:
    return pg.dsn.replace(f":{pg.port}/", f":{port}/")


def test_drop_connections_breaks_open_sessions(pg: Postgres) -> None:
    with psycopg.connect(pg.dsn, autocommit=True) as victim:
        assert victim.execute("SELECT 1").fetchone() == (1,)
        n = play(Lab(pg=pg), make_fault("db_drop", "db", 0, 0))
        n.stop()
        assert n.applied[0].error is None
        with pytest.raises(psycopg.OperationalError):
            victim.execute("SELECT 1")
    with psycopg.connect(pg.dsn) as fresh:  # new sessions are fine
        assert fresh.execute("SELECT 1").fetchone() == (1,)


def test_kill_takes_the_database_away_until_the_fault_ends(pg: Postgres) -> None:
    n = play(Lab(pg=pg), make_fault("db_kill", "db", 0, LONG))
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg.dsn, connect_timeout=2).close()
    n.stop()
    with psycopg.connect(pg.dsn, connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_cut_and_slow_act_on_the_client_to_database_link(pg: Postgres, net: Network) -> None:
    port = net.add_link("client", DATABASE, (pg.host, pg.port))
    dsn = proxied_dsn(pg, port)
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)

    n = play(Lab(net=net, pg=pg), make_fault("db_slow", "db", 0, LONG, ms=150))
    with psycopg.connect(dsn, connect_timeout=10, autocommit=True) as conn:
        started = time.monotonic()
        conn.execute("SELECT 1")
        assert time.monotonic() - started >= 0.15  # a lower bound: the delay is injected
    n.stop()

    n = play(Lab(net=net, pg=pg), make_fault("db_cut", "db", 0, LONG))
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=1).close()
    n.stop()
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
