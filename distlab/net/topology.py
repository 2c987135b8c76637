"""Which peer links exist at all: ``ring``, ``star``, ``mesh`` or ``custom``.

A pure function the cluster calls before it starts anything: it proxies
exactly the links returned, and a node only learns the peers it has a link
to. Links are directed ``(src, dst)`` pairs: ``src`` dials ``dst``.
"""

from __future__ import annotations

from collections.abc import Sequence

from distlab.errors import UsageError

TOPOLOGIES: tuple[str, ...] = ("ring", "star", "mesh", "custom")
Link = tuple[str, str]


def _parse_custom(spec: str, ids: Sequence[str]) -> list[Link]:
    both = "<->" in spec
    if not both and "->" not in spec:
        raise UsageError(f'[cluster] links: {spec!r} is not a link; write "n1->n2" or "n1<->n2"')
    src, _, dst = (part.strip() for part in spec.partition("<->" if both else "->"))
    for node in (src, dst):
        if node not in ids:
            raise UsageError(
                f"[cluster] links: {spec!r} names unknown node {node!r}; nodes are {', '.join(ids)}"
            )
    if src == dst:
        raise UsageError(f"[cluster] links: {spec!r} links a node to itself")
    return [(src, dst), (dst, src)] if both else [(src, dst)]


def links_for(topology: str, ids: Sequence[str], custom: Sequence[str] | None = None) -> list[Link]:
    """The directed peer links of ``topology`` over node ``ids``, without repeats.

    ring: each node with its two ring neighbours (both ways); star: the first
    node with every other (both ways); mesh: every ordered pair; custom: the
    ``"a->b"`` / ``"a<->b"`` strings in ``custom``.
    """
    ids = list(ids)
    n = len(ids)
    links: list[Link] = []
    if topology == "mesh":
        links = [(a, b) for a in ids for b in ids if a != b]
    elif topology == "ring":
        for i, a in enumerate(ids):
            for b in (ids[(i + 1) % n], ids[(i - 1) % n]):
                if a != b:
                    links.append((a, b))
    elif topology == "star":
        hub = ids[0] if ids else ""
        for other in ids[1:]:
            links += [(hub, other), (other, hub)]
    elif topology == "custom":
        for spec in custom or []:
            links += _parse_custom(spec, ids)
    else:
        raise UsageError(
            f"[cluster] topology {topology!r} is not known; use one of {', '.join(TOPOLOGIES)}"
        )
    return list(dict.fromkeys(links))


def peers_of(node: str, links: Sequence[Link]) -> list[str]:
    """The peers ``node`` dials, in link order."""
    return [dst for src, dst in links if src == node]
