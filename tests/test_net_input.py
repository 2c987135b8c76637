"""User mistakes given to Network are one-line UsageErrors that name the input."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from distlab.errors import ExitCode, UsageError
from distlab.net import Network


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Network]:
    with Network.start(tmp_path, in_process=True) as n:
        for a in ("n1", "n2", "n3"):
            for b in ("n1", "n2", "n3"):
                if a != b:
                    n.add_link(a, b, ("127.0.0.1", 9))
        n.add_link("client", "n1", ("127.0.0.1", 9))
        yield n


CASES: list[tuple[str, Callable[[Network], object], str]] = [
    ("negative latency", lambda n: n.latency(None, -5), "latency must be >= 0 ms, got -5"),
    ("negative jitter", lambda n: n.latency(None, 5, jitter_ms=-1), "jitter must be >= 0"),
    ("latency not a number", lambda n: n.latency(None, "fast"), "latency must be a number"),
    ("loss over 1", lambda n: n.loss(None, 1.5), "loss probability must be from 0 to 1"),
    ("zero bandwidth", lambda n: n.bandwidth(None, 0), "more than 0 kbit/s"),
    ("unknown node in links", lambda n: n.latency([("n1", "n9")], 5), "unknown node 'n9'"),
    ("a bare pair as links", lambda n: n.stall(("n1", "n2")), "list of (src, dst) pairs"),
    ("self link", lambda n: n.cut("n1", "n1"), "joins a node to itself"),
    ("bad mode", lambda n: n.cut("n1", "n2", mode="blackhole"), "partition mode 'blackhole'"),
    ("overlapping groups", lambda n: n.partition([["n1", "n2"], ["n2", "n3"]]), "overlap"),
    ("groups leave a node out", lambda n: n.partition([["n1"], ["n2"]]), "leave out n3"),
    ("unknown node in groups", lambda n: n.partition([["n1", "n2", "n3", "n4"]]), "'n4'"),
    ("unknown shape", lambda n: n.partition_shape("wedge"), "unknown partition shape"),
    ("shape over unknown node", lambda n: n.partition_shape("halves", ["n1", "x"]), "'x'"),
    ("bad upstream", lambda n: n.add_link("n1", "db", ("127.0.0.1", 0)), "upstream port"),
]


@pytest.mark.parametrize(("what", "call", "says"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(net: Network, what: str, call: Callable[[Network], object], says: str) -> None:
    with pytest.raises(UsageError) as e:
        call(net)
    assert says in e.value.message
    assert "\n" not in e.value.message
    assert e.value.exit_code == ExitCode.USAGE
    assert net.state()["faults"] == {}  # a refused request changes nothing


def test_partitions_leave_client_links_alone(net: Network) -> None:
    net.partition_shape("isolate", node="n1")
    faults = net.state()["faults"]
    assert "client->n1" not in faults and "n1->client" not in faults
    assert faults["n2->n1"] == {"partition": "drop"}
    net.cut("client", "n1")  # but they can be faulted by name
    assert net.state()["faults"]["client->n1"] == {"partition": "drop"}
    net.heal([("n2", "n1")])  # partial heal takes the flow out of the partition
    assert "n2->n1" not in net.state()["faults"]
    assert net.state()["faults"]["n1->n2"] == {"partition": "drop"}


def test_shuffled_shapes_follow_the_seed(tmp_path: Path) -> None:
    def isolated(seed: int) -> list[tuple[tuple[str, ...], ...]]:
        with Network.start(tmp_path / str(seed), in_process=True, seed=seed) as n:
            for i in range(1, 6):
                n.add_node(f"n{i}")
            return [n.partition_shape("halves", shuffle=True).groups for _ in range(5)]

    assert isolated(11) == isolated(11)
    assert isolated(11) != isolated(12)


def test_healing_every_cut_flow_heals_the_partition(net: Network) -> None:
    p = net.partition_shape("isolate", node="n3")
    net.heal(sorted(p.cut)[:2])
    assert net.state()["partition"]["cut"] == [list(f) for f in sorted(p.cut)[2:]]
    net.heal(sorted(p.cut))
    assert net.state()["partition"] is None and net.state()["faults"] == {}
