"""For tests/test_run_report.py: a test whose history check finds a stale read
(and asserts that it does), with a fault window and workload samples around
it, so that the run's report.html has a counterexample to link and a fault
to draw."""

from distlab import events
from distlab.workload.client import Completion
from distlab.workload.ops import Operation


def test_the_checker_finds_a_stale_read(history):
    sample = events.WorkloadSample(ops_per_s=4, ok=3, fail=0, info=1, p50_ms=1.0, p99_ms=3.0)
    events.emit(sample)
    events.emit(events.FaultStart(id="s/f1", fault="partition", target=("n1",)))
    events.emit(sample)
    events.emit(events.FaultEnd(id="s/f1", fault="partition"))
    write = history.invoke(Operation(process=0, f="write", key="x", value=1))
    history.complete(write, Completion.ok(1))
    read = history.invoke(Operation(process=1, f="read", key="x", value=None))
    history.complete(read, Completion.ok(7))  # a value nobody wrote
    assert history.check("register").verdict == "invalid"
