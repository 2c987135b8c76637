"""Partition shapes, topologies and input checks of distlab.net: pure, no sockets."""

from __future__ import annotations

import pytest

from distlab.errors import UsageError
from distlab.net import links_for, peers_of
from distlab.net.faults import FlowFaults
from distlab.net.shapes import shape

N5 = ["n1", "n2", "n3", "n4", "n5"]


def both_ways(a: list[str], b: list[str]) -> set[tuple[str, str]]:
    return {(x, y) for x in a for y in b} | {(y, x) for x in a for y in b}


def test_halves_cut_every_flow_between_the_halves() -> None:
    p = shape("halves", N5)
    assert p.groups == (("n1", "n2"), ("n3", "n4", "n5"))
    assert p.cut == both_ways(["n1", "n2"], ["n3", "n4", "n5"])


def test_isolate_cuts_one_node_off_both_ways() -> None:
    p = shape("isolate", N5, node="n3")
    assert p.cut == both_ways(["n3"], ["n1", "n2", "n4", "n5"])


def test_majority_minority_puts_the_smallest_majority_first() -> None:
    p = shape("majority_minority", ["n1", "n2", "n3", "n4"])
    assert p.groups == (("n1", "n2", "n3"), ("n4",))
    assert p.cut == both_ways(["n1", "n2", "n3"], ["n4"])


def test_majorities_ring_every_node_sees_a_distinct_majority() -> None:
    p = shape("majorities_ring", N5)
    # On the ring n1..n5 each node keeps only its two neighbours.
    assert p.cut == both_ways(["n1"], ["n3", "n4"]) | both_ways(["n2"], ["n4", "n5"]) | both_ways(
        ["n3"], ["n5"]
    )
    views = []
    for node in N5:
        view = {node} | {b for b in N5 if b != node and (node, b) not in p.cut}
        assert len(view) >= 3
        views.append(frozenset(view))
    assert len(set(views)) == len(N5)


@pytest.mark.parametrize("n", [4, 6, 7, 9])
def test_majorities_ring_holds_for_other_sizes(n: int) -> None:
    nodes = [f"n{i}" for i in range(1, n + 1)]
    p = shape("majorities_ring", nodes)
    views = [frozenset({a} | {b for b in nodes if b != a and (a, b) not in p.cut}) for a in nodes]
    assert all(len(v) > n // 2 for v in views)
    assert len(set(views)) == n
    assert all((b, a) in p.cut for a, b in p.cut)  # symmetric


def test_bridge_keeps_the_middle_node_talking_to_both_sides() -> None:
    p = shape("bridge", N5)
    assert p.cut == both_ways(["n1", "n2"], ["n4", "n5"])
    assert not any("n3" in flow for flow in p.cut)


def test_asymmetric_lets_a_reach_b_but_not_back() -> None:
    p = shape("asymmetric", N5, a=["n1"], b="n2")
    assert p.cut == {("n2", "n1")}
    default = shape("asymmetric", N5)
    assert default.cut == {(y, x) for x in ["n1", "n2"] for y in ["n3", "n4", "n5"]}


def test_explicit_groups() -> None:
    p = shape("groups", N5, groups=[["n1", "n4"], ["n2"], ["n3", "n5"]])
    assert ("n1", "n4") not in p.cut and ("n3", "n5") not in p.cut
    assert p.cut == both_ways(["n1", "n4"], ["n2", "n3", "n5"]) | both_ways(["n2"], ["n3", "n5"])


@pytest.mark.parametrize(
    ("name", "kw", "says"),
    [
        ("groups", {"groups": [["n1", "n2"], ["n2", "n3", "n4", "n5"]]}, "overlap"),
        ("groups", {"groups": [["n1", "n2"], ["n3"]]}, "leave out n4, n5"),
        ("groups", {"groups": [["n1", "n2", "n3", "n4", "n5"], ["n9"]]}, "unknown node 'n9'"),
        ("isolate", {"node": "n7"}, "unknown node 'n7'"),
        ("asymmetric", {"a": "n1", "b": ["n1", "n2"]}, "in both a and b"),
        ("halves", {"node": "n1"}, "takes nothing, not node"),
        ("pentagon", {}, "unknown partition shape 'pentagon'"),
    ],
)
def test_bad_partitions_are_one_line_usage_errors(name: str, kw: dict, says: str) -> None:
    with pytest.raises(UsageError) as e:
        shape(name, N5, **kw)
    assert says in e.value.message
    assert "\n" not in e.value.message


def test_shapes_need_enough_nodes() -> None:
    with pytest.raises(UsageError, match="at least 4 nodes"):
        shape("majorities_ring", ["n1", "n2", "n3"])


def test_topologies_decide_which_links_exist() -> None:
    ids = ["n1", "n2", "n3", "n4"]
    assert len(links_for("mesh", ids)) == 12
    ring = links_for("ring", ids)
    assert set(ring) == {
        ("n1", "n2"), ("n2", "n1"), ("n2", "n3"), ("n3", "n2"),
        ("n3", "n4"), ("n4", "n3"), ("n4", "n1"), ("n1", "n4"),
    }  # fmt: skip
    assert set(links_for("star", ids)) == both_ways(["n1"], ["n2", "n3", "n4"])
    assert links_for("custom", ids, ["n1->n2", "n3<->n4"]) == [
        ("n1", "n2"),
        ("n3", "n4"),
        ("n4", "n3"),
    ]
    assert peers_of("n1", ring) == ["n2", "n4"]
    assert links_for("ring", ["n1", "n2"]) == [("n1", "n2"), ("n2", "n1")]
    assert links_for("mesh", ["n1"]) == []


@pytest.mark.parametrize(
    ("custom", "says"),
    [(["n1->n9"], "unknown node 'n9'"), (["n1-n2"], "is not a link"), (["n2->n2"], "itself")],
)
def test_bad_custom_links(custom: list[str], says: str) -> None:
    with pytest.raises(UsageError, match=says):
        links_for("custom", ["n1", "n2"], custom)
    with pytest.raises(UsageError, match="topology 'hub'"):
        links_for("hub", ["n1"])


def test_fault_dicts_use_event_wording() -> None:
    f = FlowFaults(block="drop", latency_ms=100.0)
    assert f.to_dict() == {"partition": "drop", "latency_ms": 100.0}
    assert FlowFaults.from_dict(f.to_dict()) == f
    assert FlowFaults().healthy
