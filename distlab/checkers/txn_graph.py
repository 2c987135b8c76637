"""A dependency graph of transactions: labelled edges, strongly connected
components (Tarjan), and the shortest cycle of a given shape.

Nodes are integers (transaction indexes). An edge ``a -> b`` carries the set
of reasons it exists: ``ww`` (b overwrote or appended after a's version),
``wr`` (b read a's version), ``rw`` (b installed the version after the one a
read: an anti-dependency) and ``rt`` (a completed before b began). Pure: no
I/O, no clocks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable

WW, WR, RW, RT = "ww", "wr", "rw", "rt"


class Graph:
    """Directed graph with a set of kinds per edge."""

    def __init__(self) -> None:
        self.out: dict[int, dict[int, set[str]]] = {}

    def add(self, a: int, b: int, kind: str) -> None:
        """Add the edge ``a -> b`` of ``kind`` (self-loops are dropped: a
        transaction does not depend on itself)."""
        if a == b:
            return
        self.out.setdefault(a, {}).setdefault(b, set()).add(kind)
        self.out.setdefault(b, {})

    def kinds(self, a: int, b: int) -> set[str]:
        """The kinds of the edge ``a -> b`` (empty if there is none)."""
        return self.out.get(a, {}).get(b, set())

    def edges(self) -> Iterable[tuple[int, int, set[str]]]:
        for a, succ in self.out.items():
            for b, kinds in succ.items():
                yield a, b, kinds


def strongly_connected(graph: Graph) -> list[list[int]]:
    """Tarjan's algorithm, iterative (histories have thousands of transactions,
    far past Python's recursion limit). Only components of two or more nodes
    are returned: a single transaction cannot form a cycle (no self-loops)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in graph.out:
        if root in index:
            continue
        work: list[tuple[int, Iterable[int]]] = [(root, iter(graph.out[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.out[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    n = stack.pop()
                    on_stack.discard(n)
                    component.append(n)
                    if n == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


Step = tuple[int, int, str]  # (from, to, the kind that puts the edge in the cycle)


def _path(
    graph: Graph,
    start: int,
    goal: int,
    members: Collection[int],
    usable: Callable[[set[str]], str | None],
    limit: int,
) -> list[Step] | None:
    """Shortest path from ``start`` to ``goal`` inside ``members`` over edges
    for which ``usable`` names a kind, at most ``limit`` edges long (BFS)."""
    if start == goal:
        return []
    parent: dict[int, tuple[int, str]] = {start: (start, "")}
    frontier = deque([(start, 0)])
    while frontier:
        node, depth = frontier.popleft()
        if depth >= limit:
            continue
        for nxt, kinds in graph.out[node].items():
            if nxt in parent or nxt not in members:
                continue
            kind = usable(kinds)
            if kind is None:
                continue
            parent[nxt] = (node, kind)
            if nxt == goal:
                steps: list[Step] = []
                cur = goal
                while cur != start:
                    prev, k = parent[cur]
                    steps.append((prev, cur, k))
                    cur = prev
                return steps[::-1]
            frontier.append((nxt, depth + 1))
    return None


def _pick(allowed: Collection[str]) -> Callable[[set[str]], str | None]:
    # Prefer the kind that says most about the order: a write dependency
    # over a read one, and any data dependency over real time.
    order = [k for k in (WW, WR, RW, RT) if k in allowed]

    def usable(kinds: set[str]) -> str | None:
        for k in order:
            if k in kinds:
                return k
        return None

    return usable


# Each try is a breadth-first search of the component; past this many, a big
# component (thousands of transactions under read committed) reports the
# shortest cycle found so far -- still a true cycle, perhaps not the shortest.
MAX_TRIES = 400


def shortest_cycle(
    graph: Graph, members: Collection[int], allowed: Collection[str], tries: int = MAX_TRIES
) -> list[Step] | None:
    """The shortest cycle inside ``members`` using only edges of the ``allowed``
    kinds (None if there is none)."""
    usable = _pick(allowed)
    best: list[Step] | None = None
    member_set = set(members)
    for node in members:
        for nxt, kinds in graph.out[node].items():
            kind = usable(kinds)
            if kind is None or nxt not in member_set:
                continue
            tries -= 1
            if tries < 0 and best is not None:
                return best
            limit = (len(best) - 2) if best is not None else len(member_set)
            if limit < 0:
                break
            back = _path(graph, nxt, node, member_set, usable, limit)
            if back is not None:
                best = [(node, nxt, kind), *back]
                if len(best) == 2:
                    return best
    return best


def shortest_cycle_with_one(
    graph: Graph,
    members: Collection[int],
    one: str,
    others: Collection[str],
    tries: int = MAX_TRIES,
) -> list[Step] | None:
    """The shortest cycle with exactly one edge of kind ``one`` and every other
    edge of the ``others`` kinds (G-single: one anti-dependency)."""
    usable = _pick(others)
    member_set = set(members)
    best: list[Step] | None = None
    for a in members:
        for b, kinds in graph.out[a].items():
            if one not in kinds or b not in member_set or kinds.intersection(others):
                continue  # an edge that is also a stronger kind makes another class of cycle
            tries -= 1
            if tries < 0 and best is not None:
                return best
            limit = (len(best) - 2) if best is not None else len(member_set)
            if limit < 0:
                return best
            back = _path(graph, b, a, member_set, usable, limit)
            if back is not None:
                best = [(a, b, one), *back]
                if len(best) == 2:
                    return best
    return best
