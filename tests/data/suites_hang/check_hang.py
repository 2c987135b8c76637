"""A test that hangs, with a child process of its own in another session.

The child's pid goes into the run directory so the test of the runner can
check that the layer timeout killed it too.
"""

import os
import subprocess
import sys
import time
from pathlib import Path


def test_quick():
    assert True


def test_hangs():
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True
    )
    (Path(os.environ["DISTLAB_RUN_DIR"]) / "hang-child.pid").write_text(str(child.pid))
    time.sleep(600)
