"""A run started from the dashboard keeps its reports in its run directory:
reports/ is what CI reads, and only `--ci` replaces it, unless the project asks
for it with ``[project] dashboard_reports`` (issue 19 item 7)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from throwaway_suites import DATA, PYTEST_ARGS

from distlab.config.loader import load
from distlab.tui.backend import RunBackend
from distlab.tui.feed import EventFeed

CI_SUMMARY = '{"written by": "the CI run"}\n'


def project(root: Path, extra: str = "") -> Path:
    config = root / "config.toml"
    config.write_text(
        '[project]\nrun_dir = "runs"\nreports_dir = "reports"\n'
        + extra
        + f"\n[suites.unit]\npaths = {json.dumps([str(DATA / 'suites_pass')])}\n"
        f"args = {json.dumps(PYTEST_ARGS)}\n"
    )
    (root / "reports").mkdir()
    (root / "reports" / "summary.json").write_text(CI_SUMMARY)
    return config


def run_from_dashboard(config: Path) -> Path:
    """`a` in the dashboard: the back end's run, to its end; its run directory."""
    backend = RunBackend(load(str(config)))
    backend.start(EventFeed())
    assert backend.run() is None
    deadline = time.monotonic() + 120
    while backend.busy():
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.05)
    backend.close()
    (run_dir,) = (config.parent / "runs").glob("2*")
    return run_dir


def test_a_dashboard_run_leaves_reports_alone_and_reports_in_its_run_dir(
    tmp_path: Path,
) -> None:
    run_dir = run_from_dashboard(project(tmp_path))
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["summary.json"]
    assert (tmp_path / "reports" / "summary.json").read_text() == CI_SUMMARY
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["exit_code"] == 0 and summary["run_dir"] == str(run_dir)
    assert "test_adds" in (run_dir / "junit.xml").read_text()


def test_dashboard_reports_true_writes_reports_too(tmp_path: Path) -> None:
    run_dir = run_from_dashboard(project(tmp_path, "dashboard_reports = true\n"))
    written = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert written["run_dir"] == str(run_dir)
    assert (tmp_path / "reports" / "junit.xml").is_file()
    assert (run_dir / "summary.json").is_file()
