"""Doing a fault: turn a ``Fault`` and its resolved targets into calls on the lab.

``apply(lab, fault, nodes, rng)`` starts the fault and returns an ``undo``
that ends it (restart the killed node, resume the paused one, heal the links,
kill the companion processes, restore the limits, delete the fill file,
restart the database). The nemesis decides *when*; this module only *how*.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from distlab.errors import LabError, UsageError
from distlab.nemesis import resources
from distlab.nemesis.control import ControlledNode, DbControl, NetControl, NodeControl, WithNet
from distlab.nemesis.faults import Fault, param
from distlab.nemesis.targets import RoleProbe

Undo = Callable[[], None]
# What a fault adds to its ``fault.start`` event: the links or groups it hit, rows dropped.
Details = dict[str, list[str] | list[list[str]] | int]
DB = "db"


@dataclass
class Lab:
    """What a nemesis can act on. Each part may be missing; a fault that needs it says so."""

    cluster: NodeControl | None = None
    net: NetControl | None = None
    pg: DbControl | None = None
    role_probe: RoleProbe | None = None
    run_dir: Path | None = None

    def __post_init__(self) -> None:
        # A Cluster brings the network its links run through; use it unless one was given.
        if self.net is None and isinstance(self.cluster, WithNet):
            self.net = self.cluster.net

    @property
    def nodes(self) -> list[str]:
        return list(self.cluster.ids) if self.cluster is not None else []

    def node(self, node_id: str) -> ControlledNode:
        if self.cluster is None:
            raise UsageError("this fault acts on nodes, but the nemesis has no cluster")
        return self.cluster[node_id]

    def need_net(self, kind: str) -> NetControl:
        if self.net is None:
            raise UsageError(
                f"fault {kind} needs the fault-injecting network; this cluster runs without proxies"
            )
        return self.net

    def need_pg(self, kind: str) -> DbControl:
        if self.pg is None:
            raise UsageError(f"fault {kind} needs a database; pass pg= to the nemesis")
        return self.pg


def _nothing() -> None:
    return None


def _all(undos: list[Undo]) -> Undo:
    def undo() -> None:
        errors: list[Exception] = []
        for u in reversed(undos):
            try:
                u()
            except Exception as e:  # end every part even if one fails; report the first
                errors.append(e)
        if errors:
            raise errors[0]

    return undo


def _peer_flows(net: NetControl) -> list[tuple[str, str]]:
    nodes = set(net.nodes)
    return sorted(f for f in net.flows() if f[0] in nodes and f[1] in nodes)


def _links_of(
    lab: Lab, fault: Fault, nodes: list[str], rng: random.Random
) -> list[tuple[str, str]]:
    """The flows a link fault acts on: those touching the targets (all for ``all``), then a share."""
    net = lab.need_net(fault.kind)
    flows = _peer_flows(net)
    if fault.target != "all":
        chosen = set(nodes)
        flows = [f for f in flows if f[0] in chosen or f[1] in chosen]
    share = float(param(fault, "links"))
    if share < 1.0:
        flows = sorted(rng.sample(flows, round(share * len(flows))))
    return flows


def apply(lab: Lab, fault: Fault, nodes: list[str], rng: random.Random) -> tuple[Undo, Details]:
    """Start ``fault`` on ``nodes``; returns (undo, details for the event)."""
    kind = fault.kind
    if kind == "heal":
        lab.need_net(kind).heal()
        return _nothing, {}
    if kind == "partition":
        net = lab.need_net(kind)
        shape = param(fault, "shape")
        mode = param(fault, "mode")
        if shape == "isolate":
            # Every target alone, the rest together: the fault event names exactly
            # the nodes that were cut off (all followers, not the first of them).
            rest = [n for n in net.nodes if n not in nodes]
            p = net.partition([[n] for n in nodes] + ([rest] if rest else []), mode=mode)
        else:
            order = list(lab.nodes)
            rng.shuffle(order)
            p = net.partition_shape(shape, order, mode=mode)
        cut = sorted(p.cut)
        reset = bool(param(fault, "reset"))
        return (lambda: net.heal(cut, reset_gaps=reset)), {"groups": [list(g) for g in p.groups]}
    if kind in ("latency", "loss", "bandwidth"):
        net = lab.need_net(kind)
        flows = _links_of(lab, fault, nodes, rng)
        if not flows:
            return _nothing, {"links": []}
        if kind == "latency":
            net.latency(flows, param(fault, "ms"), param(fault, "jitter_ms"))
        elif kind == "loss":
            net.loss(flows, param(fault, "probability"))
        else:
            net.bandwidth(flows, param(fault, "kbit_s"))
        reset = kind == "loss" and bool(param(fault, "reset"))
        return (lambda: net.heal(flows, reset_gaps=reset)), {
            "links": [f"{a}->{b}" for a, b in flows]
        }
    if kind in ("kill", "pause", "restart", "resume"):
        return _node_fault(lab, kind, nodes), {}
    if kind in ("memory", "memory_limit", "cpu", "fds", "disk_full"):
        return _all([_resource(lab, fault, n) for n in nodes]), {}
    if kind.startswith("db_"):
        return _db_fault(lab, fault)
    raise UsageError(f"unknown fault {kind!r}")  # pragma: no cover - make_fault checked it


def _node_fault(lab: Lab, kind: str, nodes: list[str]) -> Undo:
    undos: list[Undo] = []
    for node_id in nodes:
        node = lab.node(node_id)
        state = str(node.state)
        if kind == "kill":
            if state in ("up", "paused", "starting"):
                node.kill()
                undos.append(node.restart)
        elif kind == "restart":
            node.restart()
        elif kind == "pause":
            if state == "up":
                node.pause()
                undos.append(_resumer(node))
        elif kind == "resume" and state == "paused":
            node.resume()
    return _all(undos)


def _resumer(node: ControlledNode) -> Undo:
    def undo() -> None:
        if str(node.state) == "paused":  # a kill meanwhile leaves nothing to resume
            node.resume()

    return undo


def _pid(lab: Lab, node_id: str, kind: str) -> int:
    pid = lab.node(node_id).pid
    if pid is None:
        raise LabError(f"fault {kind}: node {node_id} is not running")
    return int(pid)


def _resource(lab: Lab, fault: Fault, node_id: str) -> Undo:
    kind = fault.kind
    label = f"nemesis-{kind}-{node_id}"
    if kind == "memory":
        limit_mb = float(param(fault, "limit_mb"))
        rss = (
            limit_mb * float(param(fault, "fraction"))
            if limit_mb
            else float(param(fault, "rss_mb"))
        )
        return resources.memory_hog(rss, lab.run_dir, label)
    if kind == "memory_limit":
        return resources.limit_memory(_pid(lab, node_id, kind), param(fault, "limit_mb"))
    if kind == "cpu":
        return resources.cpu_burners(
            int(param(fault, "procs")), lab.node(node_id).pid, lab.run_dir, label
        )
    if kind == "fds":
        return resources.exhaust_fds(_pid(lab, node_id, kind), int(param(fault, "limit")))
    if kind == "disk_full":
        return resources.fill_disk(
            Path(lab.node(node_id).data_dir),
            int(param(fault, "free_kb")),
            float(param(fault, "max_fill_mb")),
        )
    raise UsageError(f"unknown fault {kind!r}")  # pragma: no cover


def _db_flows(lab: Lab, kind: str) -> list[tuple[str, str]]:
    net = lab.need_net(kind)
    flows = sorted(f for f in net.flows() if DB in f)
    if not flows:
        raise UsageError(
            f"fault {kind}: no links to the database in this network (add links to endpoint 'db')"
        )
    return flows


def _db_fault(lab: Lab, fault: Fault) -> tuple[Undo, Details]:
    kind = fault.kind
    if kind == "db_kill":
        pg = lab.need_pg(kind)
        pg.kill()
        return pg.restart, {}
    if kind == "db_cut":
        net = lab.need_net(kind)
        flows = _db_flows(lab, kind)
        for src, dst in flows:
            net.cut(src, dst)
        return (lambda: net.heal(flows)), {"links": [f"{a}->{b}" for a, b in flows]}
    if kind == "db_slow":
        net = lab.need_net(kind)
        flows = _db_flows(lab, kind)
        net.latency(flows, param(fault, "ms"), param(fault, "jitter_ms"))
        return (lambda: net.heal(flows)), {"links": [f"{a}->{b}" for a, b in flows]}
    if kind == "db_drop":
        return _nothing, {"dropped": drop_connections(lab.need_pg(kind).dsn)}
    raise UsageError(f"unknown fault {kind!r}")  # pragma: no cover


def drop_connections(dsn: str) -> int:
    """Terminate every other client backend of the server at ``dsn``; returns how many."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchone()
    return int(row[0]) if row else 0
