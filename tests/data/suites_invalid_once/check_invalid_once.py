"""A history check that finds a stale read on the first attempt in a run and
a clean history on the rerun, as a real race does now and then.

The first attempt leaves a mark in the run directory, so which history each
attempt records is decided by the attempt, not by chance.
"""

import os
from pathlib import Path

from distlab.workload.client import Completion
from distlab.workload.ops import Operation
from distlab.workload.recorder import HistoryRecorder


def test_register_reads_its_write():
    mark = Path(os.environ["DISTLAB_RUN_DIR"]) / "invalid-mark"
    first = not mark.exists()
    mark.write_text("seen")
    history = HistoryRecorder()
    write = history.invoke(Operation(process=0, f="write", key="x", value=1))
    history.complete(write, Completion.ok(1))
    read = history.invoke(Operation(process=1, f="read", key="x", value=None))
    # The first attempt reads a value nobody wrote: no order of the ops explains it.
    history.complete(read, Completion.ok(7 if first else 1))
    result = history.check("register")
    assert result.verdict == "valid", result.summary()
