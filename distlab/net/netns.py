"""Nodes as hosts: a namespace per node on a bridge of the run's own, faults in the kernel.

``NetnsLab`` builds, for one cluster, a bridge namespace holding ``br0``
(``10.77.0.1/24``, the clients' address) and one namespace per node whose
``eth0`` (a veth whose other end is a bridge port) has ``10.77.0.(10+i)``.
The range is private and exists only inside these namespaces: nothing is
routed off the machine and the root namespace is never touched (every
``ip``/``nft``/``tc`` runs through ``nsenter``), so two runs may even use
the same addresses side by side.

``NetnsBackend`` is the ``Backend`` for it: partitions, drops and loss are
nftables rules in the node namespaces (``distlab.net.netns_rules``),
bandwidth is HTB, latency and jitter are netem where the kernel has it and
a one-line error where it does not.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from distlab.errors import LabError, UsageError
from distlab.net import netns_rules
from distlab.net.faults import CLIENT, HEALTHY, Flow, FlowFaults
from distlab.net.netns_kernel import Namespace, netem_available, unusable_reason

SUBNET_PREFIX = "10.77.0."
BRIDGE_ADDRESS = SUBNET_PREFIX + "1"
BRIDGE = "bridge"
NO_NETEM = (
    "latency and jitter in netns mode need the kernel's netem (sch_netem), which this kernel "
    'lacks; use [network] backend = "proxy" for latency faults'
)


def node_address(index: int) -> str:
    """The address of the ``index``-th node (1-based)."""
    if not 1 <= index <= 200:
        raise UsageError(f"netns mode holds at most 200 nodes, got node {index}")
    return f"{SUBNET_PREFIX}{10 + index}"


class NetnsLab:
    """The namespaces, bridge and veths of one cluster; ``close`` (or the guardian) frees them."""

    def __init__(self, run_dir: Path, nodes: list[str]) -> None:
        reason = unusable_reason()
        if reason is not None:
            raise LabError(reason)
        self.nodes = list(nodes)
        self.address: dict[str, str] = {CLIENT: BRIDGE_ADDRESS}
        self.spaces: dict[str, Namespace] = {}
        try:
            bridge = self.spaces[BRIDGE] = Namespace(BRIDGE, run_dir)
            bridge.run(["ip", "-batch", "-"], stdin=_bridge_script())
            for index, node in enumerate(self.nodes, start=1):
                ns = self.spaces[node] = Namespace(node, run_dir)
                port = netns_rules.port_name(node)
                bridge.run(
                    ["ip", "-batch", "-"],
                    stdin=f"link add {port} type veth peer name eth0 netns {ns.pid}\n"
                    f"link set {port} master br0 up\n",
                )
                self.address[node] = node_address(index)
                ns.run(
                    ["ip", "-batch", "-"],
                    stdin=f"link set lo up\naddr add {self.address[node]}/24 dev eth0\n"
                    "link set eth0 up\n",
                )
        except BaseException:
            self.close()
            raise

    def namespace(self, endpoint: str) -> Namespace:
        """The namespace of a node, or the bridge's for ``client``."""
        return self.spaces[BRIDGE if endpoint == CLIENT else endpoint]

    @property
    def bridge_path(self) -> str:
        """The bridge namespace (where clients dial from)."""
        return self.spaces[BRIDGE].path

    def enter_argv(self, node: str) -> list[str]:
        """The prefix that runs a command inside ``node``'s namespace."""
        return self.spaces[node].argv([])

    def close(self) -> None:
        """Kill every holder; the kernel then frees namespaces, veths, rules and qdiscs."""
        for ns in reversed(list(self.spaces.values())):
            ns.close()
        self.spaces.clear()


def _bridge_script() -> str:
    return (
        "link set lo up\nlink add br0 type bridge\n"
        f"addr add {BRIDGE_ADDRESS}/24 dev br0\nlink set br0 up\n"
    )


class NetnsBackend:
    """The ``Backend`` protocol over a ``NetnsLab``: no proxies, kernel rules."""

    name = "netns"
    addressed = True  # every endpoint has an address: every pair of endpoints is a flow

    def __init__(self, lab: Any) -> None:  # a NetnsLab, or a HostsLab (distlab.hosts)
        self.lab = lab
        self._lock = threading.Lock()
        self._table: dict[Flow, FlowFaults] = {}
        self._blocked: set[Flow] = set()
        self._loaded: dict[str, str] = {}  # namespace owner -> nft script in force
        self._shaped: dict[tuple[str, str], list[netns_rules.Shaping]] = {}
        self._closed = False

    # -- wiring: there are no proxies to add ----------------------------------------

    def add_link(self, src: str, dst: str, upstream: tuple[str, int]) -> int:
        raise UsageError("netns mode has no link proxies: peers dial each other's addresses")

    def add_ingress(
        self, dst: str, upstream: tuple[str, int], identify: str, unidentified: str
    ) -> int:
        raise UsageError("netns mode has no ingress proxies: peers dial each other's addresses")

    def set_address_book(self, book: dict[str, str]) -> None:
        """Peers are told apart by their addresses; nothing to learn."""

    def identify_errors(self) -> list[str]:
        return []

    # -- faults -----------------------------------------------------------------------

    def check_latency(self) -> None:
        """UsageError (one line) when the kernel cannot delay packets."""
        if not getattr(self.lab, "can_shape", True):
            raise UsageError("bandwidth and latency faults are not shaped on SSH hosts")
        if not netem_available():
            raise UsageError(NO_NETEM)

    def apply(self, changes: dict[Flow, FlowFaults], reset_gaps: bool = False) -> None:
        if any(f.latency_ms > 0 or f.jitter_ms > 0 for f in changes.values()):
            self.check_latency()
        if not getattr(self.lab, "can_shape", True) and any(
            f.kbit_s > 0 or f.latency_ms > 0 or f.jitter_ms > 0 for f in changes.values()
        ):
            raise UsageError("bandwidth and latency faults are not shaped on SSH hosts")
        with self._lock:
            self._check_open()
            for flow, faults in changes.items():
                self._known(flow)
                if faults == HEALTHY:
                    self._table.pop(flow, None)
                else:
                    self._table[flow] = faults
            self._load_rules()
            self._load_shaping()

    def set_topology(self, links: list[Flow] | None) -> None:
        nodes = self.lab.nodes
        with self._lock:
            self._check_open()
            wanted = None if links is None else set(links)
            self._blocked = (
                set()
                if wanted is None
                else {(a, b) for a in nodes for b in nodes if a != b and (a, b) not in wanted}
            )
            self._load_rules()

    def reset(self, flows: list[Flow]) -> int:
        """Kill the live TCP sockets of ``flows`` in the receiving namespace (``ss -K``)."""
        count = 0
        nodes = set(self.lab.nodes)
        for flow in flows:
            self._known(flow)
            p = netns_rules.place(flow, self.lab.address, nodes)
            peer = p.match.split()[-1]
            out = self.lab.namespace(p.ns).run(["ss", "-K", "-t", "-H", "dst", peer])
            count += len([line for line in out.splitlines() if line.strip()])
        return count

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "kind": "host",
                "src": "",
                "dst": node,
                "port": 0,
                "upstream": [self.lab.address[node], 0],
                "connections": 0,
            }
            for node in self.lab.nodes
        ]

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.lab.close()

    # -- internals --------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LabError("the network is closed")

    def _known(self, flow: Flow) -> None:
        for end in flow:
            if end not in self.lab.address:
                raise UsageError(f"netns mode: {end!r} has no address in this lab")

    def _load_rules(self) -> None:
        nodes = set(self.lab.nodes)
        scripts = netns_rules.tables(self._table, self._blocked, self.lab.address, nodes)
        for owner in set(scripts) | set(self._loaded):
            script = scripts.get(owner, netns_rules.ruleset({}))
            if self._loaded.get(owner) != script:
                self.lab.namespace(owner).run(["nft", "-f", "-"], stdin=script)
                self._loaded[owner] = script

    def _load_shaping(self) -> None:
        nodes = set(self.lab.nodes)
        wanted: dict[tuple[str, str], list[netns_rules.Shaping]] = {}
        for flow, f in sorted(self._table.items()):
            if f.kbit_s > 0 or f.latency_ms > 0 or f.jitter_ms > 0:
                owner, dev, match = netns_rules.egress(flow, self.lab.address, nodes, BRIDGE)
                wanted.setdefault((owner, dev), []).append(
                    netns_rules.Shaping(match, f.kbit_s, f.latency_ms, f.jitter_ms)
                )
        for key in set(wanted) | set(self._shaped):
            shapes = wanted.get(key, [])
            if self._shaped.get(key, []) == shapes:
                continue
            owner, dev = key
            ns = self.lab.namespace(owner)
            if self._shaped.get(key):
                ns.run(["tc", "qdisc", "del", "dev", dev, "root"])
            script = "".join(
                " ".join(dev if word == "DEV" else word for word in argv) + "\n"
                for argv in netns_rules.tc_script(shapes)
            )
            if script:
                ns.run(["tc", "-batch", "-"], stdin=script)
            self._shaped[key] = shapes


class NetnsHosts:
    """What a cluster needs from netns mode: the lab, its ``Network`` and the clients' door."""

    def __init__(self, run_dir: Path, nodes: list[str], seed: int = 0) -> None:
        from distlab.net.netns_door import ClientDoor
        from distlab.net.network import Network

        self.lab = NetnsLab(run_dir, nodes)
        try:
            self.network = Network(NetnsBackend(self.lab), seed=seed)
            for endpoint in [*nodes, CLIENT]:
                self.network.add_node(endpoint)
            self.door = ClientDoor(self.lab.bridge_path)
        except BaseException:
            self.lab.close()
            raise

    def address(self, node: str) -> str:
        """The node's own address inside the lab."""
        return self.lab.address[node]

    def client_port(self, node: str, port: int) -> int:
        """A 127.0.0.1 port in the test process that reaches ``node``'s ``port``."""
        return self.door.add((self.address(node), port))

    def close_door(self) -> None:
        """Cut the clients' connections (before the network and namespaces go)."""
        self.door.close()
