"""Write a finished run's files: JUnit XML, summary.json, the run history.

The writers belong to ``distlab.report``; this module only decides where
they go and turns a failure into a note instead of losing the other files.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from distlab.results import RunResult


def write_reports(run: RunResult, junit: list[Path], summary: list[Path]) -> list[str]:
    """Write every JUnit and summary path; returns one line per file that could not be."""
    problems: list[str] = []
    try:
        from distlab.report import write_junit, write_summary
    except ImportError:
        write_junit, write_summary = None, _write_summary_json
    for path in summary:
        try:
            write_summary(run, path)
        except OSError as e:
            problems.append(f"cannot write {path}: {e.strerror or e}")
    for path in junit:
        if write_junit is None:
            problems.append(f"JUnit XML not written to {path}: distlab.report is not available")
            continue
        try:
            write_junit(run, path)
        except OSError as e:
            problems.append(f"cannot write {path}: {e.strerror or e}")
    return problems


def _write_summary_json(run: RunResult, path: Path) -> None:
    # Stand-in until distlab.report lands; same content, same atomic write.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".summary-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(run.to_dict(), f, indent=2, default=str)
    os.replace(tmp, path)


def _history(runs_root: Path) -> Any:
    from distlab.report.history import HISTORY_NAME, RunHistory

    # Next to the runs directory, where `distlab history` looks for it.
    return RunHistory(runs_root.parent / HISTORY_NAME)


def last_passing(runs_root: Path, branch: str) -> RunResult | None:
    """The baseline for relative gates, or None when there is no history yet."""
    try:
        return _history(runs_root).last_passing(branch)
    except Exception:  # no history module or an unreadable file: no baseline
        return None


def record_history(run: RunResult, runs_root: Path) -> str:
    """Add the run to the history; returns a note when it could not."""
    try:
        _history(runs_root).record(run)
    except ImportError:
        return "run history not recorded: distlab.report.history is not available"
    except Exception as e:  # a broken history must not cost the run its verdict
        return f"run history not recorded: {e}"
    return ""


def current_branch(cwd: Path) -> str:
    """The branch baselines are kept per (CI variables, else git)."""
    try:
        from distlab.report.branch import detect_branch
    except ImportError:
        return ""
    return detect_branch(cwd)
