"""Write a finished run's files: JUnit XML, summary.json, the run history,
the run report.

The writers belong to ``distlab.report``; this module only decides where
they go and turns a failure into a note instead of losing the other files.
"""

from __future__ import annotations

from pathlib import Path

from distlab.report import junit_bytes
from distlab.report.branch import detect_branch
from distlab.report.files import atomic_write
from distlab.report.history import HISTORY_NAME, RunHistory
from distlab.report.run_html import write as write_run_html
from distlab.report.summary import summary_bytes
from distlab.results import RunResult


def write_reports(
    run: RunResult, junit: list[Path], summary: list[Path], *, shared: bool = False
) -> tuple[list[Path], list[str]]:
    """Write every JUnit and summary path: (the paths written, a line per one that was not).

    Each document is built once and written to all its paths: with thousands
    of tests, building is the expensive part.
    """
    written: list[Path] = []
    problems: list[str] = []
    for paths, build, what in (
        (summary, summary_bytes, "summary"),
        (junit, junit_bytes, "JUnit report"),
    ):
        data = build(run)
        for path in paths:
            try:
                atomic_write(path, data, what=what, shared=shared)
            except OSError as e:
                # distlab.report raises a one-line message that is also an OSError.
                problems.append(getattr(e, "message", None) or f"cannot write {path}: {e}")
            else:
                written.append(path)
    return written, problems


def write_run_report(run_dir: Path, shared: bool = False) -> tuple[Path | None, str]:
    """Write ``run_dir/report.html`` from its events: (the path, "") or (None, why not)."""
    try:
        return write_run_html(run_dir, shared=shared), ""
    except Exception as e:  # a report that cannot be built must not cost the run its verdict
        return None, f"run report not written: {getattr(e, 'message', None) or e}"


def _history(runs_root: Path) -> RunHistory:
    # Next to the runs directory, where `distlab history` looks for it.
    return RunHistory(runs_root.parent / HISTORY_NAME)


def last_passing(runs_root: Path, branch: str) -> RunResult | None:
    """The baseline for relative gates, or None when there is no history yet."""
    try:
        return _history(runs_root).last_passing(branch)
    except Exception:  # an unreadable history file: no baseline
        return None


def record_history(run: RunResult, runs_root: Path) -> str:
    """Add the run to the history; returns a note when it could not."""
    try:
        _history(runs_root).record(run)
    except Exception as e:  # a broken history must not cost the run its verdict
        return f"run history not recorded: {e}"
    return ""


def current_branch(cwd: Path) -> str:
    """The branch baselines are kept per (CI variables, else git)."""
    return detect_branch(cwd)
