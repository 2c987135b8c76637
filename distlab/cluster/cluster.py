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
import secrets
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from distlab import events, seeds
from distlab.cluster.command import PeerEntry, node_values, render_command, render_peers
from distlab.cluster.monitor import Monitor
from distlab.cluster.node import Node, NodeSpec, NodeState, environment
from distlab.cluster.ports import HOST, ClosedPort, PortAllocator
from distlab.config.schema import ClusterSettings, GroupSettings, HostsSettings, NetworkSettings
from distlab.env import NODE_ID_ENV
from distlab.errors import LabError, UsageError
from distlab.net.topology import Link, links_for

if TYPE_CHECKING:
    from distlab.hosts.lab import HostsLab
    from distlab.net import Network
    from distlab.net.netns import NetnsHosts

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
        hosts: HostsSettings | None = None,
    ) -> None:
        count = settings.nodes if nodes is None else nodes
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_NODES:
            raise UsageError(f"nodes must be a whole number from 1 to {MAX_NODES}, got {count!r}")
        if not settings.command and not settings.groups:
            raise UsageError(
                "[cluster] command is empty; set it to the command that starts one node"
            )
        if settings.groups and nodes is not None and nodes != settings.nodes:
            raise UsageError("nodes= cannot resize a cluster of groups; set each group's nodes")
        self.settings = dataclasses.replace(settings, nodes=count)
        # Each member's group: [cluster.groups.<name>], or one group "" made of [cluster].
        self._group_of: dict[str, tuple[str, int, GroupSettings]] = {}
        for name, group in (settings.groups or {"": _plain_group(self.settings)}).items():
            for index in range(1, group.nodes + 1):
                self._group_of[f"{name or 'n'}{index}"] = (name, index, group)
        if len(self._group_of) > MAX_NODES:
            raise UsageError(
                f"a cluster has at most {MAX_NODES} nodes, the groups make {len(self._group_of)}"
            )
        self.network = network or NetworkSettings()
        self.run_dir = Path(run_dir)
        self.seed = seed
        self.direct = direct
        self.ids: list[str] = list(self._group_of)
        # A fresh token per start, for systems that bootstrap a cluster by token.
        self.token = ""
        # Which peer links exist (a pure function of the net package; imports no proxies).
        self.links: set[Link] = set(links_for(settings.topology, self.ids, settings.links))
        self.net: Network | None = None
        self.hosts: NetnsHosts | None = None  # [network] backend = "netns"
        self._hosts_settings = hosts if hosts is not None and hosts.targets else None
        self.remote: HostsLab | None = None  # [hosts]: nodes on SSH targets
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
        self._reported_errors = 0  # identify errors already sent as events
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
            if not self.settings.groups:
                known = f"n1..n{len(self.ids)}" if len(self.ids) > 1 else "n1"
            else:
                known = (
                    ", ".join(self.ids) if len(self.ids) <= 8 else f"{self.ids[0]}..{self.ids[-1]}"
                )
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

    @property
    def groups(self) -> dict[str, list[str]]:
        """Member ids by group name (one group "" for a plain ``[cluster]``)."""
        out: dict[str, list[str]] = {}
        for node_id, (name, _, _) in self._group_of.items():
            out.setdefault(name, []).append(node_id)
        return out

    def group(self, name: str) -> list[str]:
        """The ids of group ``name``'s members; LabError naming the groups if there is none."""
        ids = self.groups.get(name)
        if ids is None:
            raise LabError(
                f"no group {name!r} in this cluster; groups: {', '.join(g for g in self.groups if g) or '(none)'}"
            )
        return ids

    def group_of(self, node_id: str) -> str:
        """The group ``node_id`` belongs to ("" in a plain cluster)."""
        self[node_id]
        return self._group_of[node_id][0]

    def address_book(self) -> dict[str, str]:
        """Every address a node is known by -> its id: each port (client, own, peer,
        advertised, client proxy) as "PORT" and as "127.0.0.1:PORT"."""
        book: dict[str, str] = {}
        for node in self._nodes.values():
            for port in {node.port, node.direct_port, node.peer_port, node.advertise_port}:
                book[str(port)] = book[f"{HOST}:{port}"] = node.id
        return book

    def client_address(self, node_id: str) -> tuple[str, int]:
        """Where a client dials ``node_id`` (through its client proxy when there is one)."""
        node = self[node_id]
        return (node.spec.host if node.spec.remote else HOST, node.port)

    def host_address(self, node_id: str) -> tuple[str, int]:
        """The node's own address and client port: inside the lab in netns mode
        (reachable from its namespaces), 127.0.0.1 otherwise."""
        node = self[node_id]
        return (node.spec.host, node.direct_port)

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
            self.token = secrets.token_hex(8)
            specs = self._wire()
            self._nodes = {spec.id: Node(spec) for spec in specs}
            if self.net is not None and self.settings.wiring == "ingress":
                self.net.set_address_book(self.address_book())
            for node in self._nodes.values():
                node.start()
            self._wait_all_healthy()
            self._monitor = Monitor(self.nodes, self.name, on_sample=self._report_identification)
            self._monitor.start()
        except BaseException:
            self.close()
            raise
        events.emit(
            events.Log(
                level="info",
                source="cluster",
                message=f"cluster {self.name}: {len(self.ids)} nodes up ({self.wiring_label()})",
            )
        )

    def close(self) -> None:
        """Stop every node (SIGTERM, SIGKILL after its ``stop_grace_s``), close the
        network; safe to call twice. Nodes stop side by side, so teardown takes
        one grace period, not one per node."""
        if self._monitor is not None:
            self._monitor.close()
            self._monitor = None
        errors: list[BaseException] = []
        running = [n for n in self._nodes.values() if n.pid is not None]
        if running:
            with ThreadPoolExecutor(max_workers=len(running)) as pool:
                for future in [pool.submit(n.stop) for n in running]:
                    error = future.exception()
                    if error is not None:  # keep tearing down the rest
                        errors.append(error)
        if self.hosts is not None:
            self.hosts.close_door()
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

    def remove_data(self) -> None:
        """Delete every node's data dir (after ``close``; a running node keeps its own)."""
        for node in self._nodes.values():
            if node.pid is None:
                shutil.rmtree(node.data_dir, ignore_errors=True)

    def wait_healthy(self, timeout: float | None = None) -> None:
        """Wait until every node that is starting is up (LabError naming the first that is not)."""
        self._wait_all_healthy(timeout)

    def wiring_label(self) -> str:
        """How peers reach each other, for messages: 'per-link proxies', 'ingress proxies', 'direct'."""
        if self.direct:
            return "direct, no proxies"
        if self.remote is not None:
            return "SSH hosts, nftables faults"
        if self.network.backend == "netns":
            return "netns hosts, nftables faults"
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
        from distlab.net import Network

        return Network.start(
            self.run_dir,
            in_process=not self.network.proxy_process,
            seed=seeds.derive(self.seed, "net"),
        )

    def _wire(self) -> list[NodeSpec]:
        s = self.settings
        direct_port = {i: self._ports.take(f"node {i} client port") for i in self.ids}
        peer_port = (
            dict(direct_port)
            if s.one_port
            else {i: self._ports.take(f"node {i} peer port") for i in self.ids}
        )
        advertise = dict(peer_port)
        client_port = dict(direct_port)
        link_port = self.link_ports
        host = {i: HOST for i in self.ids}
        if self._hosts_settings is not None:
            self._wire_remote(self._hosts_settings)
            host = dict(self.remote.address) if self.remote else host
        elif self.network.backend == "netns" and not self.direct:
            from distlab.net.netns import NetnsHosts

            self.hosts = NetnsHosts(self.run_dir, self.ids, seed=seeds.derive(self.seed, "net"))
            self.net = self.hosts.network
            host = {i: self.hosts.address(i) for i in self.ids}
            # Every peer dials every other's own address; links the topology lacks are
            # dropped by rules that heal never lifts.
            self.net.set_topology(sorted(self.links))
            client_port = {i: self.hosts.client_port(i, direct_port[i]) for i in self.ids}
        elif not self.direct:
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
        for i in self.ids:
            group_name, index, g = self._group_of[i]
            peers = render_peers(
                self._peer_entries(i, advertise, link_port, peer_port, host),
                s.peer_format,
                s.peer_separator,
            )
            data_dir = (Path(s.data_dir) / self.name / i) if s.data_dir else self.dir / i
            if self.remote is not None:
                data_dir = Path(self.remote.data_dir(i, f"{self.run_dir.name}-{self.name}"))
            values = node_values(
                node_id=i,
                index=index,
                port=direct_port[i],
                peer_port=peer_port[i],
                advertise_port=advertise[i],
                peers=peers,
                data_dir=data_dir,
                run_dir=self.run_dir,
                group=group_name,
                cluster_token=self.token,
                ports=client_port,
                advertise_ports=advertise,
                host=host[i],
            )
            specs.append(
                NodeSpec(
                    id=i,
                    index=index,
                    argv=render_command(g.command, values),
                    env=environment(None, s.env, g.env, self._extra_env, {NODE_ID_ENV: i}),
                    cwd=self._cwd,
                    port=client_port[i],
                    direct_port=direct_port[i],
                    peer_port=peer_port[i],
                    advertise_port=advertise[i],
                    data_dir=data_dir,
                    log_path=self.dir / f"{i}.log",
                    run_dir=self.run_dir,
                    health_check=g.health_check,
                    health_path=g.health_path,
                    health_body=g.health_body,
                    health_argv=render_command(g.health_command, values)
                    if g.health_command
                    else (),
                    start_timeout_s=g.start_timeout_s,
                    stop_grace_s=g.stop_grace_s,
                    cluster=self.name,
                    group=group_name,
                    launcher=self.hosts.lab.enter_argv(i) if self.hosts else (),
                    host=host[i],
                    probe_ns=self.hosts.lab.bridge_path if self.hosts else "",
                )
            )
            if self.remote is not None:
                specs[-1] = dataclasses.replace(
                    specs[-1],
                    remote=self.remote.remote(i, str(data_dir), specs[-1].env, self._cwd),
                )
        return specs

    def _peer_entries(
        self,
        me: str,
        advertise: dict[str, int],
        link_port: dict[Link, int],
        peer_port: dict[str, int],
        host: dict[str, str],
    ) -> list[PeerEntry]:
        """Every member, this node included (Raft-style membership lists want all voters).

        Ingress wiring: the same list for every node (each member's ingress
        port). Per-link: this node's own outgoing link proxies; its own entry
        is its own peer port; a peer the topology gives it no link to gets a
        port that refuses connections, so the member is known but unreachable.
        """
        entries = []
        for index, peer in enumerate(self.ids, start=1):
            if self.hosts is not None or self.remote is not None:  # each member at its address
                entries.append(PeerEntry(peer, index, peer_port[peer], host[peer]))
                continue
            if self.settings.wiring == "ingress" or peer == me:
                port = advertise[peer] if self.settings.wiring == "ingress" else peer_port[peer]
            elif (me, peer) in self.links:
                port = link_port.get((me, peer), peer_port[peer])
            else:
                port = self._closed().port
            entries.append(PeerEntry(peer, index, port))
        return entries

    def _wire_remote(self, settings: HostsSettings) -> None:
        """Nodes on SSH hosts: peers and clients dial the hosts' addresses; faults are
        nftables rules loaded on each host (``distlab.hosts``)."""
        from distlab.hosts.lab import HostsLab
        from distlab.net.netns import NetnsBackend
        from distlab.net.network import Network

        self.remote = HostsLab(self.ids, settings, self.run_dir / "ssh")
        self.net = Network(NetnsBackend(self.remote), seed=seeds.derive(self.seed, "net"))
        for i in self.ids:
            self.net.add_node(i)
        self.net.set_topology(sorted(self.links))

    def _closed(self) -> ClosedPort:
        if self._closed_port is None:
            self._closed_port = ClosedPort()
        return self._closed_port

    def _wait_all_healthy(self, timeout: float | None = None) -> None:
        pending = [n for n in self._nodes.values() if n.state is NodeState.STARTING]
        own = max((n.spec.start_timeout_s for n in pending), default=self.settings.start_timeout_s)
        limit = own if timeout is None else timeout
        deadline = time.monotonic() + limit
        delay = 0.005
        while pending:
            pending = [n for n in pending if not n.check_health()]
            if not pending:
                return
            self._check_identification()
            if time.monotonic() >= deadline:
                pending[0].fail_start(limit)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _report_identification(self) -> None:
        """While running: each new misnamed-dialler error becomes an error ``log`` event."""
        if self.net is None or self.settings.wiring != "ingress":
            return
        errors = self.net.identify_errors()
        for message in errors[self._reported_errors :]:
            events.emit(
                events.Log(level="error", source="net", message=f"cluster {self.name}: {message}")
            )
        self._reported_errors = len(errors)

    def _check_identification(self) -> None:
        """Fail at once when an ingress rule named a non-node (not after the health timeout)."""
        if self.net is None or self.settings.wiring != "ingress":
            return
        errors = self.net.identify_errors()
        if errors:
            message = f"cluster {self.name}: {errors[0]}; fix [cluster] ingress_identify"
            events.emit(events.Log(level="error", source="cluster", message=message))
            raise LabError(message)


def _plain_group(s: ClusterSettings) -> GroupSettings:
    """A plain ``[cluster]`` as the one group it is."""
    return GroupSettings(
        nodes=s.nodes,
        command=s.command,
        health_check=s.health_check,
        health_path=s.health_path,
        health_body=s.health_body,
        health_command=s.health_command,
        start_timeout_s=s.start_timeout_s,
        stop_grace_s=s.stop_grace_s,
        env={},  # [cluster] env is applied to every node already
    )


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80] or "c"
