"""Measured connectivity equals the expected one for every partition shape, in
both wiring modes, through a real proxy server process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from distlab.net import Network, links_for
from distlab.net.probe import IDENTIFY, ProbeNodes

NODES = ["n1", "n2", "n3", "n4", "n5"]
SHAPES: list[tuple[str, dict]] = [
    ("halves", {}),
    ("isolate", {"node": "n3"}),
    ("majority_minority", {}),
    ("majorities_ring", {}),
    ("bridge", {}),
    ("asymmetric", {"a": ["n1", "n2"], "b": ["n3", "n4", "n5"]}),
    ("groups", {"groups": [["n1", "n4"], ["n2"], ["n3", "n5"]]}),
]


def expected(dials: list[tuple[str, str, int]], cut: set[tuple[str, str]]) -> dict:
    """Per link a->b: (a's bytes reach b, b's bytes reach a) on a's connection."""
    return {(a, b): ((a, b) not in cut, (b, a) not in cut) for a, b, _ in dials}


@pytest.fixture(scope="module")
def probes() -> Iterator[ProbeNodes]:
    with ProbeNodes([*NODES, "client"]) as p:
        yield p


@pytest.fixture(scope="module", params=["per-link", "ingress"])
def wired(
    request: pytest.FixtureRequest, probes: ProbeNodes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Network, list[tuple[str, str, int]]]]:
    """A mesh of the five stand-in nodes wired one way or the other, with the dials to probe."""
    run_dir: Path = tmp_path_factory.mktemp(f"net-{request.param}")
    with Network.start(run_dir, seed=7) as net:
        if request.param == "per-link":
            dials = [
                (a, b, net.add_link(a, b, probes.address(b))) for a, b in links_for("mesh", NODES)
            ]
            # Client links: a partition between nodes leaves clients alone.
            dials += [
                (c, b, net.add_link(c, b, probes.address(b)))
                for c, b in [("client", "n1"), ("client", "n5")]
            ]
        else:
            ports = {n: net.add_ingress(n, probes.address(n), IDENTIFY) for n in NODES}
            dials = [(a, b, ports[b]) for a, b in links_for("mesh", NODES)]
        yield net, dials


def test_healthy_mesh_connects_every_pair(wired, probes: ProbeNodes) -> None:
    _, dials = wired
    assert probes.measure(dials, expect=expected(dials, set())) == expected(dials, set())


@pytest.mark.parametrize(("name", "kw"), SHAPES, ids=[s[0] for s in SHAPES])
def test_every_shape_cuts_exactly_its_flows(wired, probes: ProbeNodes, name: str, kw: dict) -> None:
    net, dials = wired
    partition = net.partition_shape(name, NODES, **kw)
    want = expected(dials, set(partition.cut))
    try:
        measured = probes.measure(dials, expect=want)
    finally:
        net.heal()
    assert partition.cut, "a shape over five nodes cuts something"
    assert measured == want
    # Healed: everything flows again (new connections).
    healthy = expected(dials, set())
    assert probes.measure(dials, expect=healthy) == healthy


def test_reject_mode_resets_instead_of_hanging(wired, probes: ProbeNodes) -> None:
    net, dials = wired
    partition = net.partition([["n1", "n2"], ["n3", "n4", "n5"]], mode="reject")
    want = expected(dials, set(partition.cut))
    try:
        measured = probes.measure(dials, expect=want)
    finally:
        net.heal()
    assert measured == want
