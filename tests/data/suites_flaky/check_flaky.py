"""A test that fails on its first attempt in a run and passes on the rerun.

The first attempt leaves a mark in the run directory, so the outcome is
decided by the attempt, not by chance.
"""

import os
from pathlib import Path


def test_stable():
    assert True


def test_flaky():
    mark = Path(os.environ["DISTLAB_RUN_DIR"]) / "flaky-mark"
    if not mark.exists():
        mark.write_text("first attempt failed")
        raise AssertionError("first attempt fails on purpose")
