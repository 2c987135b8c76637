"""A real PostgreSQL for the lab: an external server, or a throwaway one we own.

The throwaway server is ``initdb`` into a fresh temp directory, then the
postmaster itself run as a direct child through ``distlab.proc.spawn`` (not
``pg_ctl``, which daemonizes and so would escape the death signal). Its
death signal is SIGQUIT, PostgreSQL's "immediate shutdown": the postmaster
takes its backends down with it and exits at once. It listens on 127.0.0.1
on a free TCP port (so a fault proxy can sit in front of it), with Unix
sockets off. The port is kept across restarts so a DSN handed out stays
valid when the chaos layer crashes and restarts the server.

TCP on a shared box is open to every local account, so the superuser has a
random password per server (scram-sha-256 for every connection, no trust):
it lives only in a 0600 password file of the account that started the run,
and the DSN names that file (``passfile=``) rather than carrying the secret.
So a DSN may be printed, logged or passed on a command line (visible in
``ps``) without giving the server away.

PostgreSQL refuses to run as root; when we are root, only its binaries run
as ``nobody`` (the temp directory we created is chown'ed to it; nothing else
is touched).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from distlab import proc
from distlab.env import PG_DSN_ENV
from distlab.errors import LabError
from distlab.pg.binaries import BinarySet, find_binaries
from distlab.pg.processes import (
    RunAs,
    accepts,
    free_port,
    kill_tree,
    last_error_line,
    signal_tree,
    unprivileged_account,
)
from distlab.pg.redaction import redact_text
from distlab.pg.tempdirs import create_base_dir, reap_stale_dirs

SUPERUSER = "postgres"
PASSFILE = "pgpass"  # in the server's base dir, 0600, owned by the account that runs distlab
_PORT_ATTEMPTS = 5

# A lab database is throwaway: skip fsync (a killed postmaster still leaves
# its writes in the OS page cache, so crash-and-restart loses nothing) but
# keep synchronous_commit on, so an acknowledged commit survives SIGKILL.
_LAB_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "password_encryption": "'scram-sha-256'",
    "unix_socket_directories": "''",
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "128MB",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] '",
}


@dataclass
class _Resources:
    """What must be released when a server goes away, shared with its finalizer."""

    base: Path | None
    proc: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None


def make_dsn(
    host: str,
    port: int,
    dbname: str = "postgres",
    user: str = SUPERUSER,
    passfile: Path | None = None,
) -> str:
    """A libpq URI for ``user`` on ``host:port``/``dbname``; the password, if any, by file."""
    dsn = f"postgresql://{user}@{host}:{port}/{dbname}"
    if passfile is not None:
        from urllib.parse import quote

        dsn += "?passfile=" + quote(str(passfile), safe="/")
    return dsn


def _write_private(path: Path, text: str, owner: tuple[int, int] | None = None) -> None:
    """Create ``path`` readable by its owner only, never world-readable even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if owner is not None:
            os.fchown(fd, *owner)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


class Postgres:
    """A PostgreSQL server handed to tests: its DSN, and control over its life.

    Build one with ``Postgres.start(...)``. An external server (a DSN from the
    config or ``DISTLAB_PG_DSN``) only offers ``dsn``; ``kill``/``stop``/
    ``restart``/``pause`` need a server we own and raise ``LabError`` otherwise.
    """

    def __init__(
        self,
        *,
        dsn: str,
        host: str,
        port: int,
        binaries: BinarySet | None = None,
        base_dir: Path | None = None,
        log_path: Path | None = None,
        run_dir: Path | None = None,
        run_as: RunAs | None = None,
        start_timeout_s: float = 30.0,
    ) -> None:
        self.dsn = dsn
        self.host = host
        self.port = port
        self.binaries = binaries
        self.base_dir = base_dir
        self.log_path = log_path
        self.run_dir = run_dir
        self.run_as = run_as
        self.start_timeout_s = start_timeout_s
        self._res = _Resources(base=base_dir)
        self._closed = False
        # Last resort if the owner forgets close(): when this object is
        # collected or the interpreter exits, the postmaster is killed and
        # the temp directory removed.
        self._finalizer = weakref.finalize(self, _cleanup, self._res)

    # -- construction -------------------------------------------------------

    @classmethod
    def start(
        cls,
        settings: Any = None,
        run_dir: Path | None = None,
        *,
        dsn: str | None = None,
        binaries: str | None = None,
        throwaway: bool = False,
    ) -> Postgres:
        """Hand out a PostgreSQL per ``settings`` (a ``PostgresSettings`` or None).

        A DSN (argument, ``DISTLAB_PG_DSN``, then ``settings.dsn``) means that
        server is used as is; otherwise a throwaway server is started from
        the binaries named by ``binaries`` / ``settings.binaries``.
        ``throwaway=True`` ignores every DSN: for a caller that will crash
        the server or wipe its tables.
        """
        chosen = (
            ""
            if throwaway
            else (dsn or os.environ.get(PG_DSN_ENV) or getattr(settings, "dsn", "") or "")
        )
        timeout = float(getattr(settings, "start_timeout_s", 30.0))
        if chosen:
            return cls.external(chosen)
        source = binaries or getattr(settings, "binaries", "auto") or "auto"
        server = cls._create(find_binaries(source), run_dir, timeout)
        try:
            server._initdb()
            server._launch(first=True)
        except BaseException:
            server.close()
            raise
        return server

    @classmethod
    def external(cls, dsn: str) -> Postgres:
        """Wrap a server someone else runs; we only hand out its DSN."""
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = conninfo_to_dict(dsn)
        except Exception as exc:
            # The library's message repeats the whole string, password included.
            reason = redact_text(" ".join(str(exc).split()), dsn)
            raise LabError(f"[postgres] dsn: not a valid connection string: {reason}") from None
        host = str(params.get("host") or "localhost")
        port = int(params.get("port") or 5432)
        return cls(dsn=dsn, host=host, port=port)

    @classmethod
    def _create(cls, binaries: BinarySet, run_dir: Path | None, timeout: float) -> Postgres:
        run_as = unprivileged_account()
        reap_stale_dirs()
        base = create_base_dir((run_as.uid, run_as.gid) if run_as is not None else None)
        port = free_port()
        log_dir = Path(run_dir) if run_dir is not None else base
        return cls(
            dsn=make_dsn("127.0.0.1", port, passfile=base / PASSFILE),
            host="127.0.0.1",
            port=port,
            binaries=binaries,
            base_dir=base,
            log_path=log_dir / f"postgres-{port}.log",
            run_dir=Path(run_dir) if run_dir is not None else None,
            run_as=run_as,
            start_timeout_s=timeout,
        )

    # -- what tests see -----------------------------------------------------

    @property
    def owned(self) -> bool:
        """Whether we started this server (and so may kill, stop, restart it)."""
        return self.base_dir is not None

    @property
    def data_dir(self) -> Path | None:
        """The data directory of a server we own."""
        return self.base_dir / "data" if self.base_dir is not None else None

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        p = self._res.proc
        return p.pid if p is not None and p.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def dsn_for(self, dbname: str) -> str:
        """The DSN of another database on this server."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(self.dsn, dbname=dbname)

    def create_database(self, name: str) -> str:
        """Create database ``name`` (dropping an old one) and return its DSN."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn_for(name)

    # -- life cycle -----------------------------------------------------------

    def kill(self) -> None:
        """Crash the server: SIGKILL to the postmaster and all its backends."""
        p = self._own_proc("kill")
        if p is None:
            return
        kill_tree(p)
        self._res.proc = None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Fast shutdown (SIGINT: roll back sessions, checkpoint, exit); SIGKILL on timeout."""
        p = self._own_proc("stop")
        if p is None:
            return
        signal_tree(p, signal.SIGCONT)  # a paused server cannot shut down
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            kill_tree(p)
        self._res.proc = None

    def restart(self) -> None:
        """Start again on the same data dir and port (stopping first if running)."""
        self._require_owned("restart")
        if self.running:
            self.stop()
        self._launch(first=False)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP to the postmaster and its backends)."""
        p = self._own_proc("pause")
        if p is not None:
            signal_tree(p, signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a paused server."""
        p = self._own_proc("resume")
        if p is not None:
            signal_tree(p, signal.SIGCONT)

    def close(self) -> None:
        """Stop a server we own and remove its temp directory. Idempotent."""
        if self._closed:
            return
        if self.owned:
            try:
                if self.running:
                    self.stop(timeout_s=5.0)
            finally:
                self._closed = True
                self._finalizer()
        else:
            self._closed = True
            self._finalizer.detach()

    def __enter__(self) -> Postgres:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = f"{self.binaries.source} {self.binaries.version}" if self.binaries else "external"
        return f"Postgres({self.host}:{self.port}, {kind}, pid={self.pid})"

    # -- internals --------------------------------------------------------------

    def _require_owned(self, what: str) -> None:
        if not self.owned:
            raise LabError(
                f"cannot {what} PostgreSQL at {self.host}:{self.port}: not started by distlab"
            )
        if self._closed:
            raise LabError(f"cannot {what} PostgreSQL at {self.host}:{self.port}: it was closed")

    def _own_proc(self, what: str) -> subprocess.Popen[bytes] | None:
        self._require_owned(what)
        p = self._res.proc
        if p is not None and p.poll() is not None:
            self._res.proc = None
            return None
        return p

    def _spawn_kwargs(self) -> dict[str, Any]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
        kw: dict[str, Any] = {"env": env, "cwd": str(self.base_dir), "run_dir": self.run_dir}
        if self.run_as is not None:
            kw.update(user=self.run_as.uid, group=self.run_as.gid, extra_groups=[])
        return kw

    def _open_log(self) -> IO[bytes]:
        if self._res.log is None:
            assert self.log_path is not None
            self._res.log = open(self.log_path, "ab")  # noqa: SIM115 -- lives as long as the server
        return self._res.log

    def _initdb(self) -> None:
        assert self.binaries is not None and self.data_dir is not None
        assert self.base_dir is not None
        log = self._open_log()
        password = secrets.token_urlsafe(24)  # [A-Za-z0-9_-]: nothing to escape in a pgpass line
        # initdb (run as the server's account) reads the password once; the
        # clients' copy belongs to us. Both are 0600 from their first byte.
        pwfile = self.base_dir / "initdb-password"
        owner = (self.run_as.uid, self.run_as.gid) if self.run_as is not None else None
        _write_private(pwfile, password + "\n", owner)
        _write_private(self.base_dir / PASSFILE, f"*:*:*:{SUPERUSER}:{password}\n")
        argv = [
            str(self.binaries.initdb),
            "-D", str(self.data_dir),
            "-U", SUPERUSER,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]  # fmt: skip
        child = proc.spawn(argv, stdout=log, label="initdb", **self._spawn_kwargs())
        try:
            code = child.wait(timeout=max(self.start_timeout_s, 60.0))
        except subprocess.TimeoutExpired:
            proc.kill_group(child)
            child.wait()
            raise LabError(f"initdb did not finish in time; see {self.log_path}") from None
        finally:
            pwfile.unlink(missing_ok=True)
        if code != 0:
            raise LabError(
                f"initdb failed (exit {code}): {last_error_line(self.log_path)}; see {self.log_path}"
            )
        self._write_conf()

    def _write_conf(self) -> None:
        assert self.data_dir is not None
        lines = [f"{k} = {v}" for k, v in _LAB_SETTINGS.items()]
        lines.append(f"port = {self.port}")
        text = "\n# distlab: lab settings\n" + "\n".join(lines) + "\n"
        # postgresql.auto.conf is read last and is ours to own: rewriting it
        # on a port change needs no parsing of the main file.
        (self.data_dir / "postgresql.auto.conf").write_text(text)

    def _launch(self, *, first: bool) -> None:
        """Start the postmaster; on a first start, move to a new port if ours was taken."""
        assert self.binaries is not None and self.data_dir is not None
        assert self.base_dir is not None
        last = ""
        for _attempt in range(_PORT_ATTEMPTS):
            log = self._open_log()
            log_offset = log.tell()
            argv = [str(self.binaries.postgres), "-D", str(self.data_dir)]
            self._res.proc = proc.spawn(
                argv,
                stdout=log,
                death_signal=signal.SIGQUIT,
                label=f"postgres:{self.port}",
                **self._spawn_kwargs(),
            )
            failure = self._wait_ready()
            if failure is None:
                return
            last = last_error_line(self.log_path, since=log_offset) or failure
            port_taken = "already in use" in last or "could not create any TCP/IP sockets" in last
            if not (first and port_taken):
                break
            self.port = free_port()
            self.dsn = make_dsn(self.host, self.port, passfile=self.base_dir / PASSFILE)
            self._write_conf()
        raise LabError(
            f"PostgreSQL did not start on 127.0.0.1:{self.port}: {last}; see {self.log_path}"
        )

    def _wait_ready(self) -> str | None:
        """Wait until the postmaster accepts connections; the reason if it does not."""
        assert self._res.proc is not None and self.data_dir is not None
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._res.proc.poll() is not None:
                self._res.proc = None
                return "the postmaster exited"
            try:
                lines = pid_file.read_text().splitlines()
            except OSError:
                lines = []
            # Line 8 of postmaster.pid is the postmaster's status.
            if len(lines) >= 8 and lines[7].strip() == "ready" and accepts(self.host, self.port):
                return None
            time.sleep(0.01)
        kill_tree(self._res.proc)
        self._res.proc = None
        return f"not ready after {self.start_timeout_s:g} s"


def _cleanup(res: _Resources) -> None:
    """Kill the postmaster (if still running) and remove the temp directory."""
    p = res.proc
    if p is not None and p.poll() is None:
        with contextlib.suppress(Exception):
            kill_tree(p)
    if res.log is not None:
        with contextlib.suppress(OSError):
            res.log.close()
    if res.base is not None:
        shutil.rmtree(res.base, ignore_errors=True)
        proc.release_dir(res.base)
