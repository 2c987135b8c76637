"""No secret in any output (issue 14 item 7): a whole ``distlab --ci`` run, and
``distlab doctor``, with a DSN whose password must not appear anywhere --
console, reports, run directory, run history -- once malformed and once
reachable. Report files and run directories are the owner's only."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from distlab.pg import Postgres, redact_text
from tests.test_ci import distlab, write_config

SECRET = "SeCrEt-7f3a91"


@pytest.fixture(scope="module")
def reachable_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A DSN with a password in it, for a role on a throwaway server of our own."""
    server = Postgres.start(run_dir=tmp_path_factory.mktemp("pg"), throwaway=True)
    try:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE lab LOGIN SUPERUSER PASSWORD {}").format(sql.Literal(SECRET))
            )
        yield f"postgresql://lab:{SECRET}@127.0.0.1:{server.port}/postgres"
    finally:
        server.close()


def _outputs(tmp_path: Path, *texts: str) -> dict[str, str]:
    """Every output of a run: what it printed and every file it left."""
    found = {f"output {i}": text for i, text in enumerate(texts)}
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "config.toml":
            found[str(path.relative_to(tmp_path))] = path.read_bytes().decode("utf-8", "replace")
    return found


def _run_and_grep(tmp_path: Path, dsn: str) -> dict[str, str]:
    layers = {"unit": {"suite": "suites_pg_secret"}}
    config = write_config(tmp_path, layers, '[gates]\n"unit.pass_rate" = "== 1"\n')
    # The history database sits beside the config by default; keep it in tmp_path.
    ci = distlab(tmp_path, "--ci", "--config", str(config), "--seed", "5", DISTLAB_PG_DSN=dsn)
    doctor = distlab(tmp_path, "doctor", "--config", str(config), DISTLAB_PG_DSN=dsn)
    outputs = _outputs(tmp_path, ci.stdout, ci.stderr, doctor.stdout, doctor.stderr)
    leaks = sorted(name for name, text in outputs.items() if SECRET in text)
    assert not leaks, f"the password appears in: {leaks}"
    assert ci.returncode in (1, 3), ci.stdout[-3000:] + ci.stderr[-3000:]
    return outputs


def _private(tmp_path: Path) -> None:
    for sub in ("runs", "reports"):
        for path in (tmp_path / sub).rglob("*"):
            mode = stat.S_IMODE(path.stat().st_mode)
            if path.is_dir() and path.parent.name == "runs":
                assert mode == 0o700, f"{path}: {oct(mode)}"
            elif path.is_file() and sub == "reports":
                assert mode & 0o077 == 0, f"{path}: {oct(mode)}"
    history = tmp_path / "history.sqlite"  # beside run_dir = "runs"
    assert history.exists() and stat.S_IMODE(history.stat().st_mode) & 0o077 == 0


def test_a_malformed_dsn_leaks_nowhere(tmp_path: Path) -> None:
    outputs = _run_and_grep(tmp_path, f"postgresql://u:{SECRET}@[::1")
    # The reason is still there, with the password masked.
    assert any("not a valid connection string" in t for t in outputs.values())
    _private(tmp_path)


def test_a_reachable_password_dsn_leaks_nowhere(tmp_path: Path, reachable_dsn: str) -> None:
    outputs = _run_and_grep(tmp_path, reachable_dsn)
    junit = outputs["reports/junit.xml"]
    assert "no_such_db" in junit and "cannot use postgresql://lab:***@" in junit
    _private(tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        f'invalid URI: "postgresql://u:{SECRET}@[::1"',
        f"host=h password={SECRET} user=u",
        f"host=h password = '{SECRET} x' user=u",
        f"postgresql://u@h/db?sslmode=require&password={SECRET}&x=1",
        f"redis://:{SECRET}@127.0.0.1:6379/0",
    ],
)
def test_redact_text_hides_every_form(text: str) -> None:
    shown = redact_text(text)
    assert SECRET not in shown and "***" in shown


def test_redact_text_keeps_what_is_no_secret() -> None:
    text = 'connection to server at "127.0.0.1", port 1 failed: http://example.com:80/x'
    assert redact_text(text) == text
    assert conninfo_to_dict("host=h") == {"host": "h"}  # psycopg's parser, as the server uses


def test_shared_reports_opens_reports_and_run_dirs_on_purpose(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"unit": {"suite": "suites_pass"}})
    text = config.read_text().replace("[project]\n", "[project]\nshared_reports = true\n", 1)
    config.write_text(text)
    done = distlab(tmp_path, "--ci", "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o755
    for report in (tmp_path / "reports").iterdir():
        assert stat.S_IMODE(report.stat().st_mode) == 0o644, report
