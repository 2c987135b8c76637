"""Where the runner and CLI tests find their throwaway suites, and how they run them."""

from __future__ import annotations

import signal
import subprocess
import time
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


def sigterm_once_hanging(proc: subprocess.Popen[str], run_root: Path) -> tuple[str, str]:
    """SIGTERM a ``distlab --ci`` of ``suites_hang`` once its hanging test runs; (out, err).

    The hanging test writes ``hang-child.pid`` into its run directory under
    ``run_root`` when it starts: waiting on that, not a sleep, is what makes the
    signal land mid-test.
    """
    try:
        deadline = time.monotonic() + 60
        while not list(run_root.glob("*/hang-child.pid")):
            assert time.monotonic() < deadline, "the hanging test never started"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
