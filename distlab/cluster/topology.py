"""Which directed peer links exist: ``[cluster] topology`` and ``links``."""

from __future__ import annotations

import re

Link = tuple[str, str]


def node_ids(count: int) -> list[str]:
    """The ids of a cluster of ``count`` nodes: n1..nN."""
    return [f"n{i}" for i in range(1, count + 1)]


def peer_links(topology: str, ids: list[str], custom: list[str] | None = None) -> set[Link]:
    """The directed links (src, dst) that exist between ``ids``.

    ``mesh``: every ordered pair. ``ring``: each node with its two neighbours,
    both ways. ``star``: the first node with every other, both ways.
    ``custom``: the config's ``links`` ("n1->n2" one way, "n1<->n2" both),
    already validated by the config loader.
    """
    links: set[Link] = set()
    n = len(ids)
    if topology == "mesh":
        links = {(a, b) for a in ids for b in ids if a != b}
    elif topology == "ring":
        for i, a in enumerate(ids):
            b = ids[(i + 1) % n]
            if a != b:
                links |= {(a, b), (b, a)}
    elif topology == "star":
        hub = ids[0]
        for other in ids[1:]:
            links |= {(hub, other), (other, hub)}
    elif topology == "custom":
        for text in custom or []:
            match = re.fullmatch(r"(n\d+)\s*(->|<->)\s*(n\d+)", text.strip())
            if match is None:
                raise ValueError(f'{text!r} is not a link; write "n1->n2" or "n1<->n2"')
            a, arrow, b = match.groups()
            if a not in ids or b not in ids:
                continue  # the loader checked ranges against [cluster] nodes; a smaller cluster drops them
            links.add((a, b))
            if arrow == "<->":
                links.add((b, a))
    else:
        raise ValueError(f"unknown topology {topology!r}; allowed: ring | star | mesh | custom")
    return {(a, b) for a, b in links if a != b}
