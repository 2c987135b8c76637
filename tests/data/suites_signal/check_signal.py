"""A test whose pytest process is killed by a signal."""

import os
import signal


def test_killed():
    os.kill(os.getpid(), signal.SIGKILL)
