"""Turning a target selector into node ids at the moment a fault starts.

``one``, ``minority``, ``majority``, ``followers``, ``all``, a node id, ``db``
and ``leader``; ``group:NAME`` is every member of a group, and a selector
before it picks among them (``one:group:sentinel``, ``leader:group:redis``). Who leads is something only the system knows, so ``leader``
and ``followers`` ask a *role probe*: a function the suite supplies,
``probe(node_id) -> "leader" | "follower" | ... | None``. distlab ships none
for arbitrary systems; the reference system's lives in
``suites/support/refsys_client.py``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from distlab import events
from distlab.errors import LabError, UsageError

RoleProbe = Callable[[str], "str | None"]


def find_leader(
    nodes: Sequence[str], probe: RoleProbe, timeout_s: float = 10.0, settle_s: float = 2.0
) -> str:
    """The node the probe says leads; waits up to ``timeout_s`` for one (an election may be running).

    A system with split brain can have two nodes that both claim to lead for
    good. After ``settle_s`` the first claimant (in node order) is taken, and
    a ``log`` event says so: "the leader" of such a cluster is any of them.
    """
    started = time.monotonic()
    while True:
        leaders = [n for n in nodes if _role(probe, n) == "leader"]
        if len(leaders) == 1:
            return leaders[0]
        waited = time.monotonic() - started
        if len(leaders) > 1 and waited >= settle_s:
            events.emit(
                events.Log(
                    level="warning",
                    source="nemesis",
                    message=f"{', '.join(leaders)} all claim to lead after {waited:.1f} s; aiming at {leaders[0]}",
                )
            )
            return leaders[0]
        if waited >= timeout_s:
            raise LabError(
                f"target leader: no leader among {', '.join(nodes)} after {timeout_s:g} s"
            )
        time.sleep(0.05)


def _role(probe: RoleProbe, node: str) -> str | None:
    try:
        return probe(node)
    except Exception:  # a node that cannot answer has no role we can use
        return None


def resolve(
    target: str,
    nodes: Sequence[str],
    rng: random.Random,
    probe: RoleProbe | None = None,
) -> list[str]:
    """The node ids ``target`` means now, among ``nodes`` (the live ones first, as given).

    Random choices (``one``, ``minority``, ``majority``) come from ``rng``, so a
    schedule replayed with the same seed picks the same nodes.
    """
    ids = list(nodes)
    if "group:" in target:
        # Members of a group are its name plus a number ([cluster.groups.<name>]).
        selector, _, group = target.rpartition("group:")
        members = [i for i in ids if i.rstrip("0123456789") == group]
        if not members:
            groups = sorted({i.rstrip("0123456789") for i in ids})
            raise UsageError(
                f"target {target}: no node of group {group!r}; groups: {', '.join(groups)}"
            )
        return resolve(selector.rstrip(":") or "all", members, rng, probe)
    if not ids:
        raise LabError(f"target {target}: no nodes to choose from")
    n = len(ids)
    if target == "all":
        return ids
    if target == "db":
        return ["db"]
    if target == "one":
        return [rng.choice(ids)]
    if target == "minority":
        return sorted(rng.sample(ids, max(1, (n - 1) // 2)), key=ids.index)
    if target == "majority":
        return sorted(rng.sample(ids, n // 2 + 1), key=ids.index)
    if target in ("leader", "followers"):
        if probe is None:
            raise UsageError(
                f"target {target} needs a role probe (a function node id -> role) to know who leads; "
                "pass role_probe= to the nemesis or override the nemesis_role_probe fixture"
            )
        leader = find_leader(ids, probe)
        return [leader] if target == "leader" else [i for i in ids if i != leader]
    if target in ids:
        return [target]
    raise UsageError(f"unknown node {target!r}; this cluster has {', '.join(ids)}")
