"""Run directories that do not fill the disk, and `check --html-dir` (issue 15 item 8)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cluster_helpers import ECHO_COMMAND

from distlab.cli.main import main
from distlab.rundir import create_run_dir, prune_runs

DATA = Path(__file__).parent / "data" / "histories"


def test_check_html_dir_is_created(tmp_path: Path) -> None:
    target = tmp_path / "new" / "pages"
    invalid = DATA / "register/invalid_stale_read.jsonl"
    assert main(["check", "--model", "register", "--html-dir", str(target), str(invalid)]) == 1
    assert (target / "invalid_stale_read.timeline.html").is_file()


def test_check_html_dir_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    taken = tmp_path / "file"
    taken.write_text("x")
    invalid = DATA / "register/invalid_stale_read.jsonl"
    assert main(["check", "--model", "register", "--html-dir", str(taken), str(invalid)]) == 2


def test_prune_keeps_the_newest_runs_and_only_run_directories(tmp_path: Path) -> None:
    runs = []
    for seed in range(5):
        run = create_run_dir(tmp_path, seed)
        os.utime(run, (1_000_000 + seed, 1_000_000 + seed))  # oldest first
        runs.append(run)
    (tmp_path / "history.sqlite").write_text("")  # not a run: never touched
    (tmp_path / "notes").mkdir()
    removed = prune_runs(tmp_path, keep=2, current=runs[4])
    assert removed == runs[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [runs[3].name, runs[4].name, "history.sqlite", "notes"]
    )


def test_node_data_dirs_are_kept_only_for_failed_tests(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "config.toml").write_text(
        textwrap.dedent(
            f"""
            [cluster]
            nodes = 2
            command = "{ECHO_COMMAND}"
            stop_grace_s = 1.0
            [network]
            proxy_process = false
            """
        )
    )
    (suite / "test_two.py").write_text(
        "def test_passes(cluster):\n    assert len(cluster) == 2\n\n"
        "def test_fails(cluster):\n    assert False, 'on purpose'\n"
    )
    run_dir = tmp_path / "run"
    env = {
        **os.environ,
        "DISTLAB_CONFIG": str(suite / "config.toml"),
        "DISTLAB_RUN_DIR": str(run_dir),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 failed, 1 passed" in done.stdout, done.stdout[-2000:]
    # One cluster per test, named in the order they started: c1 passed, c2 failed.
    passed, failed = sorted((run_dir / "clusters").iterdir())
    assert (passed / "n1.log").is_file() and not (passed / "n1").exists()
    assert (failed / "n1").is_dir() and (failed / "n2").is_dir()


def test_check_gives_no_verdict_when_no_operation_succeeded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nothing_ok.jsonl"
    path.write_text(
        '{"process": 0, "type": "invoke", "f": "write", "key": "x", "value": 1, "time": 1}\n'
        '{"process": 0, "type": "fail", "f": "write", "key": "x", "value": 1, "time": 2}\n'
        '{"process": 1, "type": "invoke", "f": "read", "key": "x", "value": null, "time": 3}\n'
        '{"process": 1, "type": "info", "f": "read", "key": "x", "value": null, "time": 4}\n'
    )
    assert main(["check", "--model", "register", str(path)]) == 4  # ExitCode.UNKNOWN
    out = capsys.readouterr().out
    assert "no verdict: no operation succeeded (2 ops, none ok)" in out
    assert "valid" not in out.replace("no verdict", "")
