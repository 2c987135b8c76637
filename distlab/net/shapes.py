"""Named partition shapes (Jepsen's nemesis vocabulary) as pure functions.

A partition is the set of directed flows it cuts. Shapes made of disjoint
groups cut every flow between different groups; ``majorities_ring``,
``bridge`` and ``asymmetric`` are not disjoint groups and say their cut
flows directly. Nothing here touches a socket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from distlab.errors import UsageError
from distlab.net.faults import Flow

SHAPES: tuple[str, ...] = (
    "halves",
    "isolate",
    "majority_minority",
    "majorities_ring",
    "bridge",
    "asymmetric",
    "groups",
)


@dataclass(frozen=True)
class Partition:
    """A partition: its shape's name, the groups it shows, and the flows it cuts."""

    shape: str
    groups: tuple[tuple[str, ...], ...]
    cut: frozenset[Flow]

    def describe(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "groups": [list(g) for g in self.groups],
            "cut": [list(f) for f in sorted(self.cut)],
        }


def _names(nodes: Sequence[str]) -> str:
    return ", ".join(nodes)


def check_known(ids: Sequence[str], nodes: Sequence[str], what: str) -> None:
    """Every id must be one of ``nodes``."""
    for node in ids:
        if node not in nodes:
            raise UsageError(f"{what}: unknown node {node!r}; nodes are {_names(nodes)}")


def check_groups(groups: Sequence[Sequence[str]], nodes: Sequence[str]) -> None:
    """Groups must name known nodes, not overlap, and together hold every node."""
    if not isinstance(groups, list | tuple) or not all(
        isinstance(g, list | tuple) and all(isinstance(n, str) for n in g) for g in groups
    ):
        raise UsageError(f"partition groups must be a list of lists of node ids, got {groups!r}")
    seen: dict[str, int] = {}
    for i, group in enumerate(groups):
        check_known(group, nodes, "partition groups")
        for node in group:
            if node in seen:
                raise UsageError(
                    f"partition groups overlap: {node!r} is in group {seen[node] + 1} "
                    f"and group {i + 1}; each node must be in exactly one group"
                )
            seen[node] = i
    missing = [n for n in nodes if n not in seen]
    if missing:
        raise UsageError(
            f"partition groups leave out {_names(missing)}; every node must be in a group "
            f"(nodes are {_names(nodes)})"
        )


def cut_between(groups: Sequence[Sequence[str]]) -> frozenset[Flow]:
    """Every flow from a node in one group to a node in another."""
    cut: set[Flow] = set()
    for i, a in enumerate(groups):
        for j, b in enumerate(groups):
            if i != j:
                cut.update((x, y) for x in a for y in b)
    return frozenset(cut)


def from_groups(
    groups: Sequence[Sequence[str]], nodes: Sequence[str], shape: str = "groups"
) -> Partition:
    """An explicit partition into disjoint groups covering ``nodes``."""
    check_groups(groups, nodes)
    groups = [list(g) for g in groups if g]
    return Partition(shape, tuple(tuple(g) for g in groups), cut_between(groups))


def _need(shape: str, nodes: Sequence[str], least: int) -> None:
    if len(nodes) < least:
        raise UsageError(
            f"partition shape {shape!r} needs at least {least} nodes, got {len(nodes)}"
        )


def _as_ids(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise UsageError(f"{what} must be a node id or a list of node ids, got {value!r}")


def halves(nodes: Sequence[str]) -> Partition:
    """Two halves; with an odd count the second half is the bigger one."""
    _need("halves", nodes, 2)
    k = len(nodes) // 2
    return from_groups([nodes[:k], nodes[k:]], nodes, "halves")


def isolate(nodes: Sequence[str], node: str | None = None) -> Partition:
    """One node alone; everybody else together."""
    _need("isolate", nodes, 2)
    node = nodes[0] if node is None else node
    check_known([node], nodes, "isolate node")
    return from_groups([[node], [n for n in nodes if n != node]], nodes, "isolate")


def majority_minority(nodes: Sequence[str]) -> Partition:
    """The smallest majority on one side, the rest on the other."""
    _need("majority_minority", nodes, 3)
    m = len(nodes) // 2 + 1
    return from_groups([nodes[:m], nodes[m:]], nodes, "majority_minority")


def majorities_ring(nodes: Sequence[str]) -> Partition:
    """Each node sees a majority made of its ring neighbours, and no two see the same one.

    Nodes sit on a ring in the given order; a node keeps the links to the
    nodes within ``d`` steps either way, with ``d`` the least that makes
    ``2d + 1`` a majority. The groups shown are each node's view.
    """
    _need("majorities_ring", nodes, 4)
    n = len(nodes)
    majority = n // 2 + 1
    d = majority // 2  # 2d + 1 >= majority
    views: list[tuple[str, ...]] = []
    cut: set[Flow] = set()
    for i, a in enumerate(nodes):
        view = [nodes[(i + k) % n] for k in range(-d, d + 1)]
        views.append(tuple(view))
        cut.update((a, b) for b in nodes if b not in view)
    return Partition("majorities_ring", tuple(views), frozenset(cut))


def bridge(nodes: Sequence[str]) -> Partition:
    """Two sides that cannot talk, and one node in the middle that talks to both."""
    _need("bridge", nodes, 3)
    k = (len(nodes) - 1) // 2
    left, middle, right = list(nodes[:k]), nodes[k], list(nodes[k + 1 :])
    cut = cut_between([left, right])
    return Partition("bridge", (tuple([*left, middle]), tuple([middle, *right])), cut)


def asymmetric(nodes: Sequence[str], a: Any = None, b: Any = None) -> Partition:
    """``a`` can reach ``b`` but ``b`` cannot reach ``a`` (default: the two halves)."""
    _need("asymmetric", nodes, 2)
    k = len(nodes) // 2
    side_a = _as_ids(a, "asymmetric a") if a is not None else list(nodes[:k])
    side_b = _as_ids(b, "asymmetric b") if b is not None else [n for n in nodes if n not in side_a]
    check_known(side_a, nodes, "asymmetric a")
    check_known(side_b, nodes, "asymmetric b")
    both = set(side_a) & set(side_b)
    if both:
        raise UsageError(f"asymmetric: {_names(sorted(both))} is in both a and b; they must differ")
    if not side_a or not side_b:
        raise UsageError("asymmetric: a and b must each name at least one node")
    cut = frozenset((y, x) for x in side_a for y in side_b)
    return Partition("asymmetric", (tuple(side_a), tuple(side_b)), cut)


def shape(name: str, nodes: Sequence[str], **kw: Any) -> Partition:
    """Build the partition called ``name`` over ``nodes`` (in their given order)."""
    nodes = list(nodes)
    if len(set(nodes)) != len(nodes):
        raise UsageError(f"partition nodes repeat an id: {_names(nodes)}")
    allowed: dict[str, tuple[str, ...]] = {
        "halves": (),
        "isolate": ("node",),
        "majority_minority": (),
        "majorities_ring": (),
        "bridge": (),
        "asymmetric": ("a", "b"),
        "groups": ("groups",),
    }
    if name not in allowed:
        raise UsageError(f"unknown partition shape {name!r}; use one of {', '.join(SHAPES)}")
    extra = sorted(set(kw) - set(allowed[name]))
    if extra:
        takes = ", ".join(allowed[name]) or "nothing"
        raise UsageError(f"partition shape {name!r} takes {takes}, not {', '.join(extra)}")
    if name == "halves":
        return halves(nodes)
    if name == "isolate":
        return isolate(nodes, kw.get("node"))
    if name == "majority_minority":
        return majority_minority(nodes)
    if name == "majorities_ring":
        return majorities_ring(nodes)
    if name == "bridge":
        return bridge(nodes)
    if name == "asymmetric":
        return asymmetric(nodes, kw.get("a"), kw.get("b"))
    if "groups" not in kw:
        raise UsageError("partition shape 'groups' needs groups=[[...], [...]]")
    return from_groups(kw["groups"], nodes)
