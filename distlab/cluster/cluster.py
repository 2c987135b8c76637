"""A cluster of node processes wired through the fault-injecting network.

``Cluster`` renders each node's command from ``[cluster]``, wires peers
(per-link proxies or one ingress proxy per node, see ``distlab.net``),
starts every node, waits until all are healthy, and watches them until it
is closed. Whatever it started dies with it -- on ``close``, on an
exception inside ``with``, and (through ``distlab.proc``'s PDEATHSIG and
guardian) when its owner is killed.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from distlab import events, seeds
from distlab.cluster.command import PeerEntry, node_values, render_command, render_peers
from distlab.cluster.monitor import Monitor
from distlab.cluster.node import Node, NodeSpec, NodeState, environment
from distlab.cluster.ports import HOST, ClosedPort, PortAllocator
from distlab.config.schema import ClusterSettings, NetworkSettings
from distlab.env import NODE_ID_ENV
from distlab.errors import LabError, UsageError
from distlab.net.topology import Link, links_for

if TYPE_CHECKING:
    from distlab.net import Network

MAX_NODES = 64


class Cluster:
    """N node processes from ``settings``; use as a context manager.

    ``nodes`` overrides ``settings.nodes``; ``env`` is added to every node's
    environment (after ``settings.env``). ``direct=True`` starts no proxies:
    peers and clients dial nodes' own ports and ``net`` is None. ``base_port``
    counts node ports up from a fixed port instead of letting the kernel pick.
    """

    def __init__(
        self,
        settings: ClusterSettings,
        run_dir: Path,
        *,
        nodes: int | None = None,
        env: dict[str, str] | None = None,
        seed: int = 0,
        network: NetworkSettings | None = None,
        direct: bool = False,
        base_port: int | None = None,
        name: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        count = settings.nodes if nodes is None else nodes
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_NODES:
            raise UsageError(f"nodes must be a whole number from 1 to {MAX_NODES}, got {count!r}")
        if not settings.command:
            raise UsageError(
                "[cluster] command is empty; set it to the command that starts one node"
            )
        self.settings = dataclasses.replace(settings, nodes=count)
        self.network = network or NetworkSettings()
        self.run_dir = Path(run_dir)
        self.seed = seed
        self.direct = direct
        self.ids: list[str] = [f"n{i}" for i in range(1, count + 1)]
        # Which peer links exist (a pure function of the net package; imports no proxies).
        self.links: set[Link] = set(links_for(settings.topology, self.ids, settings.links))
        self.net: Network | None = None
        self.name = name or ""
        self.dir = Path()
        self._extra_env = dict(env or {})
        self._cwd = str(cwd or os.getcwd())
        self._ports = PortAllocator(base_port)
        self._closed_port: ClosedPort | None = None
        self._nodes: dict[str, Node] = {}
        # (src, dst) -> the port src dials to reach dst (per-link wiring), for display.
        self.link_ports: dict[Link, int] = {}
        self._monitor: Monitor | None = None
        self._started = False

    # -- the agreed interface ----------------------------------------------------------

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __getitem__(self, node_id: str) -> Node:
        node = self._nodes.get(node_id)
        if node is None:
            known = f"n1..n{len(self.ids)}" if len(self.ids) > 1 else "n1"
            raise LabError(f"unknown node {node_id!r}; this cluster has {known}")
        return node

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def nodes(self) -> list[Node]:
        """The nodes, in id order."""
        return list(self._nodes.values())

    def client_address(self, node_id: str) -> tuple[str, int]:
        """Where a client dials ``node_id`` (through its client proxy when there is one)."""
        return (HOST, self[node_id].port)

    def samples(self) -> dict[str, dict[str, Any]]:
        """The latest psutil figures per node id (cpu_percent, rss_bytes, fds, threads)."""
        return self._monitor.latest() if self._monitor is not None else {}

    def states(self) -> dict[str, str]:
        """Each node's state, by id."""
        return {n.id: str(n.state) for n in self._nodes.values()}

    # -- start and stop ----------------------------------------------------------------

    def start(self) -> None:
        """Start the network and every node; return once all are healthy.

        On any failure everything started so far is torn down before the
        error (a one-line ``LabError``) propagates.
        """
        if self._started:
            raise LabError("this cluster was already started; make a new Cluster")
        self._started = True
        try:
            self._make_dir()
            specs = self._wire()
            self._nodes = {spec.id: Node(spec) for spec in specs}
            for node in self._nodes.values():
                node.start()
            self._wait_all_healthy()
            self._monitor = Monitor(self.nodes, self.name)
            self._monitor.start()
        except BaseException:
            self.close()
            raise
        events.emit(
            events.LOG,
            level="info",
            source="cluster",
            message=f"cluster {self.name}: {len(self.ids)} nodes up ({self.wiring_label()})",
        )

    def close(self) -> None:
        """Kill every node and close the network; safe to call twice."""
        if self._monitor is not None:
            self._monitor.close()
            self._monitor = None
        errors: list[BaseException] = []
        for node in self._nodes.values():
            try:
                node.kill()
            except Exception as e:  # keep tearing down the rest
                errors.append(e)
        if self.net is not None:
            try:
                self.net.close()
            except Exception as e:
                errors.append(e)
            self.net = None
        if self._closed_port is not None:
            self._closed_port.close()
            self._closed_port = None
        if errors:
            raise LabError(f"cluster {self.name}: teardown failed: {errors[0]}")

    def wait_healthy(self, timeout: float | None = None) -> None:
        """Wait until every node that is starting is up (LabError naming the first that is not)."""
        self._wait_all_healthy(timeout)

    def wiring_label(self) -> str:
        """How peers reach each other, for messages: 'per-link proxies', 'ingress proxies', 'direct'."""
        if self.direct:
            return "direct, no proxies"
        return "ingress proxies" if self.settings.wiring == "ingress" else "per-link proxies"

    # -- internals ---------------------------------------------------------------------

    def _make_dir(self) -> None:
        root = self.run_dir / "clusters"
        root.mkdir(parents=True, exist_ok=True)
        base = _safe_name(self.name) if self.name else "c"
        for n in range(1, 10_000):
            candidate = root / (base if self.name and n == 1 else f"{base}{n}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            self.dir = candidate
            self.name = candidate.name
            return
        raise LabError(f"cannot make a cluster directory under {root}")  # pragma: no cover

    def _start_network(self) -> Network:
        try:
            from distlab.net import Network
        except ImportError as e:
            raise LabError(
                f"the fault-injecting network is not available ({e}); use direct wiring"
            ) from None
        return Network.start(
            self.run_dir,
            in_process=not self.network.proxy_process,
            seed=seeds.derive(self.seed, "net"),
        )

    def _wire(self) -> list[NodeSpec]:
        s = self.settings
        direct_port = {i: self._ports.take(f"node {i} client port") for i in self.ids}
        peer_port = {i: self._ports.take(f"node {i} peer port") for i in self.ids}
        advertise = dict(peer_port)
        client_port = dict(direct_port)
        link_port = self.link_ports
        if not self.direct:
            self.net = self._start_network()
            if s.wiring == "ingress":
                for i in self.ids:
                    advertise[i] = self.net.add_ingress(
                        i, (HOST, peer_port[i]), s.ingress_identify, s.ingress_unidentified
                    )
                # One shared peer list cannot leave links out, so the ingress
                # proxies refuse the links the topology lacks; heal() keeps them out.
                self.net.set_topology(sorted(self.links))
            else:
                for src, dst in sorted(self.links):
                    link_port[(src, dst)] = self.net.add_link(src, dst, (HOST, peer_port[dst]))
            if self.network.client_links:
                for i in self.ids:
                    client_port[i] = self.net.add_link("client", i, (HOST, direct_port[i]))
        elif s.wiring == "ingress" and len(self.links) != len(self.ids) * (len(self.ids) - 1):
            raise UsageError(
                f"topology {s.topology!r} needs proxies in ingress wiring; direct wiring is mesh only"
            )
        specs = []
        for index, i in enumerate(self.ids, start=1):
            peers = render_peers(
                self._peer_entries(i, advertise, link_port, peer_port),
                s.peer_format,
                s.peer_separator,
            )
            data_dir = (Path(s.data_dir) / self.name / i) if s.data_dir else self.dir / i
            values = node_values(
                node_id=i,
                index=index,
                port=direct_port[i],
                peer_port=peer_port[i],
                advertise_port=advertise[i],
                peers=peers,
                data_dir=data_dir,
                run_dir=self.run_dir,
            )
            specs.append(
                NodeSpec(
                    id=i,
                    index=index,
                    argv=render_command(s.command, values),
                    env=environment(None, s.env, self._extra_env, {NODE_ID_ENV: i}),
                    cwd=self._cwd,
                    port=client_port[i],
                    direct_port=direct_port[i],
                    peer_port=peer_port[i],
                    advertise_port=advertise[i],
                    data_dir=data_dir,
                    log_path=self.dir / f"{i}.log",
                    run_dir=self.run_dir,
                    health_check=s.health_check,
                    health_path=s.health_path,
                    health_argv=render_command(s.health_command, values)
                    if s.health_command
                    else (),
                    start_timeout_s=s.start_timeout_s,
                    stop_grace_s=s.stop_grace_s,
                    cluster=self.name,
                )
            )
        return specs

    def _peer_entries(
        self,
        me: str,
        advertise: dict[str, int],
        link_port: dict[Link, int],
        peer_port: dict[str, int],
    ) -> list[PeerEntry]:
        """Every member, this node included (Raft-style membership lists want all voters).

        Ingress wiring: the same list for every node (each member's ingress
        port). Per-link: this node's own outgoing link proxies; its own entry
        is its own peer port; a peer the topology gives it no link to gets a
        port that refuses connections, so the member is known but unreachable.
        """
        entries = []
        for index, peer in enumerate(self.ids, start=1):
            if self.settings.wiring == "ingress" or peer == me:
                port = advertise[peer] if self.settings.wiring == "ingress" else peer_port[peer]
            elif (me, peer) in self.links:
                port = link_port.get((me, peer), peer_port[peer])
            else:
                port = self._closed().port
            entries.append(PeerEntry(peer, index, port))
        return entries

    def _closed(self) -> ClosedPort:
        if self._closed_port is None:
            self._closed_port = ClosedPort()
        return self._closed_port

    def _wait_all_healthy(self, timeout: float | None = None) -> None:
        limit = self.settings.start_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + limit
        pending = [n for n in self._nodes.values() if n.state is NodeState.STARTING]
        delay = 0.005
        while pending:
            pending = [n for n in pending if not n.check_health()]
            if not pending:
                return
            if time.monotonic() >= deadline:
                pending[0].fail_start(limit)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80] or "c"
