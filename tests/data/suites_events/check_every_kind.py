"""One test that makes the cluster, the net, the nemesis, a workload, a checker
and a metric each say something, so a real ``distlab --ci`` run writes every
kind of event that suites produce (tests/test_events.py decodes them all)."""

import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2]))  # tests/, for cluster_helpers

from cluster_helpers import echo_settings

from distlab.nemesis import Schedule, make_fault
from distlab.workload.client import Client, Completion


class Register:
    """The system under test of this check: one register per key, in memory."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[object, object] = {}


class RegisterClient(Client):
    def __init__(self, register: Register) -> None:
        self.register = register

    def invoke(self, op, timeout_s):
        with self.register.lock:
            current = self.register.values.get(op.key)
            if op.f == "read":
                return Completion.ok(current)
            if op.f == "write":
                self.register.values[op.key] = op.value
                return Completion.ok(op.value)
            expected, new = op.value
            if current != expected:
                return Completion.fail("cas mismatch")
            self.register.values[op.key] = new
            return Completion.ok(op.value)


@pytest.fixture
def cluster_settings():
    return echo_settings(nodes=3)


def test_every_part_speaks(cluster, nemesis, workload, history, metric):
    assert cluster.net is not None
    cluster.net.partition_shape("majority_minority")
    cluster.net.heal()
    schedule = Schedule((make_fault("kill", "n3", 0, 0.5),), name="speak")
    n = nemesis(schedule, cluster=cluster).start()
    register = Register()
    w = workload(lambda p: RegisterClient(register), clients=2, duration_s=1.5)
    w.run()
    n.stop()
    result = history.check("register")
    assert result.verdict == "valid", result.report()
    metric("ops", 1.0, unit="count")
