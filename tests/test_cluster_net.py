"""Echo clusters wired through distlab.net in both wiring modes: for every partition
shape the measured one-way connectivity equals the expected one, and faults act on
connections that are already open."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from cluster_helpers import ask, directed_reach, echo_settings

from distlab.cluster import Cluster
from distlab.config.schema import ClusterSettings, NetworkSettings

IDS = ["n1", "n2", "n3", "n4", "n5"]
MESH = {(a, b) for a in IDS for b in IDS if a != b}


def across(*groups: Iterable[str]) -> set[tuple[str, str]]:
    """Every flow between two different groups, both ways."""
    sets = [list(g) for g in groups]
    return {
        (x, y)
        for i, a in enumerate(sets)
        for j, b in enumerate(sets)
        if i != j
        for x in a
        for y in b
    }


# Written out by hand from each shape's definition (docs/net.md), not computed by distlab.net.
EXPECTED_CUT: dict[str, tuple[dict, set[tuple[str, str]]]] = {
    "halves": ({}, across(["n1", "n2"], ["n3", "n4", "n5"])),
    "isolate": ({"node": "n3"}, across(["n3"], ["n1", "n2", "n4", "n5"])),
    "majority_minority": ({}, across(["n1", "n2", "n3"], ["n4", "n5"])),
    # Five on a ring, each keeps its two neighbours: n1 sees n5 and n2, and so on.
    "majorities_ring": (
        {},
        {
            (a, b)
            for a in IDS
            for b in IDS
            if a != b and (IDS.index(a) - IDS.index(b)) % 5 in (2, 3)
        },
    ),
    # n3 in the middle talks to both sides; the sides cannot talk.
    "bridge": ({}, across(["n1", "n2"], ["n4", "n5"])),
    # n1, n2 reach n3..n5; nothing gets back.
    "asymmetric": (
        {"a": ["n1", "n2"], "b": ["n3", "n4", "n5"]},
        {(y, x) for x in ("n1", "n2") for y in ("n3", "n4", "n5")},
    ),
    "groups": (
        {"groups": [["n1", "n4"], ["n2", "n3", "n5"]]},
        across(["n1", "n4"], ["n2", "n3", "n5"]),
    ),
}


@pytest.fixture(params=["per-link", "ingress"])
def cluster_settings(request: pytest.FixtureRequest) -> ClusterSettings:
    return echo_settings(nodes=5, wiring=request.param)


@pytest.fixture
def cluster_network() -> NetworkSettings:
    # The proxies in their own process, as configured for real runs.
    return NetworkSettings(proxy_process=True)


def test_connectivity_matrix_for_every_partition_shape(cluster: Cluster) -> None:
    assert cluster.net is not None
    assert directed_reach(cluster, until=MESH) == MESH
    for shape, (kw, cut) in EXPECTED_CUT.items():
        cluster.net.partition_shape(shape, IDS, **kw)
        measured = directed_reach(cluster, until=MESH - cut)
        assert measured == MESH - cut, (
            f"{shape}: missing {sorted(MESH - cut - measured)}, extra {sorted(measured - (MESH - cut))}"
        )
        cluster.net.heal()
    cluster.net.partition([["n1", "n2", "n3"], ["n4", "n5"]], mode="reject")
    majority_side = MESH - across(["n1", "n2", "n3"], ["n4", "n5"])
    assert directed_reach(cluster, until=majority_side) == majority_side
    cluster.net.heal()
    assert directed_reach(cluster, until=MESH) == MESH


def test_faults_act_on_an_open_connection_and_heal(cluster: Cluster) -> None:
    assert cluster.net is not None
    n1 = cluster.client_address("n1")
    assert ask(n1, "PING n2 3000") == "OK n2"  # opens the connection n1 keeps to n2
    cluster.net.cut("n2", "n1")  # only the replies' direction
    assert ask(n1, "PING n2 300").startswith("FAIL n2 TimeoutError")
    cluster.net.heal()
    # The same connection carries bytes again (and the late reply to the lost ping).
    assert ask(n1, "PING n2 3000") == "OK n2"


def test_pause_is_seen_through_the_proxies(cluster: Cluster) -> None:
    cluster["n4"].pause()
    assert ask(cluster.client_address("n1"), "PROBE n4 300").startswith("FAIL n4")
    cluster["n4"].resume()
    assert ask(cluster.client_address("n1"), "PROBE n4 3000") == "OK n4"
