"""Two layers that can only pass if they run at the same time.

Each layer's test announces itself in the run directory and waits (with a
deadline) for the other: run one after the other, the first one fails.
"""

import os
import time
from pathlib import Path


def test_meets_the_other_layer():
    run_dir = Path(os.environ["DISTLAB_RUN_DIR"])
    (run_dir / f"here-{os.environ['DISTLAB_LAYER']}").write_text("here")
    deadline = time.monotonic() + 30
    while len(list(run_dir.glob("here-*"))) < 2:
        assert time.monotonic() < deadline, "the other layer never started: not run in parallel"
        time.sleep(0.05)
