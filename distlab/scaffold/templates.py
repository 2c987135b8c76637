"""The text of every file ``distlab init`` writes (``string.Template``, ``${name}`` fields).

Each file says what to change and why; the tests that need the user's own
client skip with a message naming what to write until ``client.py`` is done,
so a fresh scaffold runs green and every stub says what it is waiting for.
"""

from __future__ import annotations

CONFIG = """\
# distlab configuration for ${name}, written by `distlab init`.
# Run the layers headless with `distlab --ci`, open the dashboard with `distlab`.
# `distlab doctor` checks this file; every key is in distlab's docs/reference.md.

[project]
name = ${name_toml}
run_dir = ".distlab/runs"
reports_dir = "reports"

[cluster]
nodes = ${nodes}
# The node command. distlab fills in, per node: {id} (n1..nN), {index}, {port} (its client
# port), {peer_port} (where it listens for peers), {advertise_port}, {peers} (the peer list,
# each entry a fault-injecting proxy), {data_dir} (its own directory), {python}, {run_dir}.
command = ${command_toml}
# per-link: each node gets its own peer list, one proxy per directed link.
# ingress: one proxy in front of each node's peer port; peers are told apart by
# ingress_identify, a regex over the first bytes a dialling peer sends.
wiring = "${wiring}"
${identify_line}peer_format = "{id}=127.0.0.1:{port}"
peer_separator = ","
# How distlab tells a node is up: tcp | http (GET health_path) | command | none.
health_check = "${health_check}"
${health_lines}start_timeout_s = 10.0

[lab]
# `distlab lab`: the workload client and status probe that client.py provides.
client = "client:adapter"

# One table per layer; layers run in `order`. A required layer that fails fails the run.
[suites.unit]
paths = ["suites/unit"]
order = 1

[suites.concurrency]
paths = ["suites/concurrency"]
order = 2

[suites.distributed]
paths = ["suites/distributed"]
reruns = 1
order = 3

[suites.chaos]
paths = ["suites/chaos"]
reruns = 1
order = 4

[suites.performance]
paths = ["suites/performance"]
required = false
order = 5

# Release gates: "layer.metric" = "condition". pass_rate counts the tests that ran;
# once client.py is written, add e.g. "distributed.skipped" = "== 0" so a skip fails too.
[gates]
"unit.pass_rate" = "== 1"
"concurrency.pass_rate" = "== 1"
"distributed.pass_rate" = "== 1"
"chaos.pass_rate" = "== 1"
# Recorded by suites/performance/test_restart.py with the `metric` fixture.
"performance.node_restart_ms" = "< 10000"

# A chaos scenario: faults on a schedule, the register workload from client.py, and
# success criteria (availability, consistency, error_rate, recovery_s, p95_ms).
[scenarios.crash_and_partition]
title = "A crash, then a partition"
duration_s = 20
ci_duration_s = 8
schedule = [
    { kind = "kill", target = "one", at_s = 1, duration_s = 2 },
    { kind = "partition", shape = "isolate", target = "one", at_s = 4, duration_s = 2 },
]
mix = { read = 2, write = 1, cas = 1 }
criteria = { consistency = "== 1", availability = ">= 0.5" }
"""

CONFTEST = '''\
"""Fixtures for ${name}'s distlab suites (written by `distlab init`).

distlab's own fixtures (cluster, nemesis, scenario, workload, history, metric)
come from its pytest plugin; this file adds the one that needs your code.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

# client.py sits beside this file; the suites import it as `client`.
sys.path.insert(0, str(Path(__file__).parent))
client = importlib.import_module("client")


@pytest.fixture
def register_client(cluster):
    """A client factory for the workload: process p talks to node p mod N."""
    missing = client.stubs()
    if len(missing) == len(client.METHODS):
        pytest.skip(
            "client.py is a stub: write RegisterClient.read, .write and .cas for ${name} "
            "(and drop their @stub marks)"
        )
    if missing:
        pytest.fail(
            "client.py: RegisterClient." + ", .".join(missing) + " still marked @stub: "
            "write them for ${name} and drop the marks"
        )
    return client.client_factory(cluster)
'''

CLIENT = '''\
"""The workload client for ${name}: one logical client ("process") doing
register operations (read / write / cas) against one node.

distlab's workload runs several of these at once and records what each saw;
the checker then decides whether the history is linearizable. Fill in the
three methods (and remove their @stub marks).

The rules (docs/guide.md, "Writing a workload client"):
- return normally only when the op happened (a read returns what it read);
- raise ``Refused`` only when the op certainly did not happen;
- any other exception (a timeout, a reset connection) is recorded as
  unknown: the op may or may not have taken effect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from distlab.workload import Client, Completion
from distlab.workload.ops import Operation

METHODS = ("read", "write", "cas")


def stub(method: Any) -> Any:
    """Marks a method `distlab init` wrote and you have not replaced yet (delete it when you do)."""
    method.stub = True
    return method


def stubs() -> list[str]:
    """The methods of RegisterClient that are still stubs."""
    return [m for m in METHODS if getattr(getattr(RegisterClient, m), "stub", False)]


class Refused(Exception):
    """The system said no and changed nothing (e.g. a cas whose expected value did not match)."""


class RegisterClient(Client):
    """One register per key, initially None."""

    def __init__(self, process: int, address: tuple[str, int]) -> None:
        self.process = process
        self.address = address  # (host, port) of this client's node; connect here

    @stub
    def read(self, key: str, timeout_s: float) -> Any:
        """Return the value of ``key`` (None if never written)."""
        raise NotImplementedError(
            "client.py: RegisterClient.read is a stub; read `key` from ${name}"
        )

    @stub
    def write(self, key: str, value: Any, timeout_s: float) -> None:
        """Set ``key`` to ``value``."""
        raise NotImplementedError(
            "client.py: RegisterClient.write is a stub; write `key` to ${name}"
        )

    @stub
    def cas(self, key: str, expected: Any, new: Any, timeout_s: float) -> None:
        """Set ``key`` to ``new`` if it holds ``expected``; raise ``Refused`` if it does not."""
        raise NotImplementedError(
            "client.py: RegisterClient.cas is a stub; compare-and-set in ${name}"
        )

    def invoke(self, op: Operation, timeout_s: float) -> Completion:
        try:
            if op.f == "read":
                return Completion.ok(self.read(op.key, timeout_s))
            if op.f == "write":
                self.write(op.key, op.value, timeout_s)
                return Completion.ok()
            if op.f == "cas":
                expected, new = op.value
                self.cas(op.key, expected, new, timeout_s)
                return Completion.ok()
        except Refused as e:
            return Completion.fail(str(e) or "refused")
        return Completion.fail(f"no such op {op.f!r}")

    def close(self) -> None:
        """Close the connection (may be called from another thread to abort a hung call)."""


def client_factory(cluster: Any) -> Callable[[int], RegisterClient]:
    """``workload(client_factory(cluster), ...)``: process p talks to node p mod N."""
    addresses = [cluster.client_address(node) for node in cluster.ids]
    return lambda process: RegisterClient(process, addresses[process % len(addresses)])


class Adapter:
    """What `distlab lab` needs ([lab] client = "client:adapter" in config.toml)."""

    def make_client(
        self, process: int, addresses: Mapping[str, tuple[str, int]], seed: int
    ) -> Client:
        nodes = sorted(addresses)
        return RegisterClient(process, addresses[nodes[process % len(nodes)]])

    def status(
        self, addresses: Mapping[str, tuple[str, int]]
    ) -> dict[str, dict[str, Any]]:
        """Each node's own view, e.g. {"n1": {"role": "leader"}}; {} if it has none."""
        return {}


adapter = Adapter()
'''

PYTEST_INI = """\
# Makes this directory pytest's rootdir, so node commands run from here.
[pytest]
"""

UNIT = '''\
"""Unit layer: ${name}'s logic without a cluster. Add tests of your own code here."""

from pathlib import Path

import pytest
from distlab.config.loader import load

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_the_config_names_a_port_per_node():
    config = load(ROOT / "config.toml")
    assert config.cluster.nodes >= 1
    assert "{port}" in config.cluster.command, "distlab needs {port} to reach each node"
'''

CONCURRENCY = '''\
"""Concurrency layer: many clients at once against one node."""

import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.concurrency


def test_a_node_accepts_many_connections_at_once(cluster):
    address = cluster.client_address(cluster.ids[0])

    def connect(_):
        with socket.create_connection(address, timeout=5):
            return True

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(connect, range(64)))
'''

DISTRIBUTED = '''\
"""Distributed layer: the cluster under a network partition."""

import pytest
from distlab.nemesis import timeline
from distlab.workload import Keys, register_mix

pytestmark = pytest.mark.distributed


def test_every_node_stays_up_on_both_sides_of_a_partition(cluster):
    first, *rest = cluster.ids
    cluster.net.partition([[first], rest])
    assert all(node.check_health() for node in cluster.nodes), cluster.states()
    cluster.net.heal()
    assert all(node.check_health() for node in cluster.nodes), cluster.states()


def test_register_is_linearizable_while_a_node_is_cut_off(
    cluster, register_client, nemesis, workload, history
):
    cut_off = {"kind": "partition", "shape": "isolate", "target": "one"}
    schedule = timeline([{**cut_off, "at_s": 1, "duration_s": 3}])
    w = workload(
        register_client,
        mix=register_mix(read=2, write=1, cas=1),
        keys=Keys.uniform(3),
        clients=4,
        duration_s=6,
        timeout_s=1.0,
    )
    with nemesis(schedule, cluster=cluster) as n:
        w.run()
    n.raise_errors()
    result = history.check("register")
    assert result.verdict == "valid", result.report()
'''

CHAOS = '''\
"""Chaos layer: a crash on a schedule, and the scenario from config.toml."""

import pytest
from distlab.nemesis import timeline

pytestmark = pytest.mark.chaos


def test_a_killed_node_is_restarted_and_healthy(cluster, nemesis):
    victim = cluster.ids[0]
    kill = {"kind": "kill", "target": victim, "at_s": 0, "duration_s": 1}
    schedule = timeline([kill])
    n = nemesis(schedule, cluster=cluster).run()  # returns when the node is back
    n.raise_errors()
    assert cluster[victim].check_health(), cluster.states()


def test_crash_and_partition_scenario(cluster, register_client, scenario):
    result = scenario("crash_and_partition", cluster, register_client)
    assert result.passed, result.report()
'''

PERFORMANCE = '''\
"""Performance layer: measurements recorded with `metric`, judged by [gates] in config.toml."""

import time

import pytest

pytestmark = pytest.mark.performance


def test_node_restart_time(cluster, metric):
    node = cluster[cluster.ids[0]]
    node.kill()
    started = time.monotonic()
    node.restart()  # returns once the node is healthy again
    metric("node_restart_ms", (time.monotonic() - started) * 1000, unit="ms")
'''
