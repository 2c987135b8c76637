"""Where the runner and CLI tests find their throwaway suites, and how they run them."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"
# The throwaway suites are check_*.py (so `pytest tests/` skips them) and need
# none of the heavy plugins: without them each pytest starts seconds sooner here.
PYTEST_ARGS = [
    "-o",
    "python_files=check_*.py",
    "-p",
    "no:hypothesispytest",
    "-p",
    "no:textual-snapshot",
    "-p",
    "no:syrupy",
]
