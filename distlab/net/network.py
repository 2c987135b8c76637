"""``Network``: the fault-injecting network a cluster's links run through.

It checks every request, turns partitions and link faults into one table of
faults per directed flow, sends only the changes to the backend (the proxy
server), and reports each change as ``link.state`` / ``partition`` events.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from distlab import events
from distlab.errors import UsageError
from distlab.net import shapes
from distlab.net.backend import Backend, ProxyBackend
from distlab.net.faults import BLOCK_MODES, HEALTHY, NON_NODES, Flow, FlowFaults, flow_name
from distlab.net.ingress import Identifier, check_policy
from distlab.net.shapes import Partition
from distlab.seeds import derive

LinkSpec = tuple[str, str] | list[str] | str


class Network:
    """Per-link proxies and the faults on them. Thread-safe; use as a context manager."""

    def __init__(self, backend: Backend, *, seed: int = 0) -> None:
        self.backend = backend
        self.seed = seed
        self.rng = random.Random(derive(seed, "net.shapes"))
        self._lock = threading.RLock()
        self._nodes: list[str] = []  # cluster nodes, in the order first seen
        self._endpoints: list[str] = []  # nodes plus "client", "db", ...
        self._links: dict[Flow, int] = {}  # per-link proxies: (src, dst) -> port
        self._ingress: dict[str, int] = {}  # node -> ingress port
        self._link_faults: dict[Flow, FlowFaults] = {}
        self._partition: Partition | None = None
        self._partition_mode = "drop"
        self._applied: dict[Flow, FlowFaults] = {}
        self._topology: list[Flow] | None = None
        self._closed = False

    @classmethod
    def start(cls, run_dir: Path, *, in_process: bool = False, seed: int = 0) -> Network:
        """Start the proxy server (its own process unless ``in_process``)."""
        backend = ProxyBackend(Path(run_dir), in_process=in_process, seed=derive(seed, "net"))
        return cls(backend, seed=seed)

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- wiring -----------------------------------------------------------

    @property
    def nodes(self) -> list[str]:
        """The cluster nodes the network knows, in the order they were wired."""
        return list(self._nodes)

    def _know(self, endpoint: str) -> None:
        if not isinstance(endpoint, str) or not endpoint:
            raise UsageError(f"an endpoint id must be a non-empty string, got {endpoint!r}")
        if endpoint not in self._endpoints:
            self._endpoints.append(endpoint)
            if endpoint not in NON_NODES:
                self._nodes.append(endpoint)

    def add_node(self, node: str) -> None:
        """Make a node known without a link (a node with no peers under ``custom``)."""
        with self._lock:
            self._know(node)

    def add_link(self, src: str, dst: str, upstream: tuple[str, int]) -> int:
        """A proxy for the directed link ``src -> dst``; returns the 127.0.0.1 port ``src`` dials."""
        with self._lock:
            if src == dst:
                raise UsageError(f"a link needs two different endpoints, got {src!r} twice")
            if (src, dst) in self._links:
                return self._links[(src, dst)]
            self._know(src)
            self._know(dst)
            port = self.backend.add_link(src, dst, _address(upstream))
            self._links[(src, dst)] = port
            return port

    def add_ingress(
        self, dst: str, upstream: tuple[str, int], identify: str, unidentified: str = "reject"
    ) -> int:
        """One proxy in front of ``dst`` for all diallers, told apart by the regex ``identify``.

        ``unidentified``: ``reject`` resets a connection that has not named its
        dialler within 5 s or 64 KiB; ``hold`` keeps it waiting; ``allow``
        forwards it (unfaulted) while still watching for the id.
        """
        with self._lock:
            Identifier(identify)  # a bad regex is the caller's mistake: say so here
            check_policy(unidentified)
            if dst in self._ingress:
                return self._ingress[dst]
            self._know(dst)
            port = self.backend.add_ingress(dst, _address(upstream), identify, unidentified)
            self._ingress[dst] = port
            return port

    def set_topology(self, links: Iterable[LinkSpec] | None) -> None:
        """Say which ``(src, dst)`` links exist (``links_for``'s result); None: every pair.

        In ingress mode all nodes share one peer list, so a node may dial a
        peer the topology gives it no link to; its ingress proxy then resets
        that connection. Per-link wiring needs no call: a missing link simply
        has no proxy. Unlike faults, ``heal`` never undoes this.
        """
        with self._lock:
            self._topology = None if links is None else self._resolve(links)
            self.backend.set_topology(self._topology)

    def set_address_book(self, book: dict[str, str]) -> None:
        """Every address a node is known by ("PORT", "127.0.0.1:PORT") -> its id.

        Ingress rules that capture ``(?P<port>)`` or ``(?P<addr>)`` look the
        dialler up here; with a book, a rule naming a non-node is an error
        (``identify_errors``) rather than a stranger.
        """
        with self._lock:
            self.backend.set_address_book(dict(book))

    def identify_errors(self) -> list[str]:
        """One line per ingress rule that named something that is not a node (first first)."""
        return self.backend.identify_errors()

    def port(self, src: str, dst: str) -> int:
        """The port ``src`` dials to reach ``dst`` (its link proxy, else ``dst``'s ingress)."""
        if (src, dst) in self._links:
            return self._links[(src, dst)]
        if dst in self._ingress:
            return self._ingress[dst]
        raise UsageError(f"no link from {src!r} to {dst!r}")

    def flows(self) -> list[Flow]:
        """Every flow that can carry traffic: both ways of each link, and of each ingress pair."""
        out: dict[Flow, None] = {}
        if getattr(self.backend, "addressed", False):  # every endpoint has an address
            ends = self._endpoints
            return [(a, b) for a in ends for b in ends if a != b]
        for src, dst in self._links:
            out[(src, dst)] = out[(dst, src)] = None
        for dst in self._ingress:
            for src in self._nodes:
                if src != dst:
                    out[(src, dst)] = out[(dst, src)] = None
        return list(out)

    # -- faults -----------------------------------------------------------

    def partition(self, groups: Sequence[Sequence[str]], mode: str = "drop") -> Partition:
        """Split the nodes into ``groups``; no flow crosses between groups.

        ``mode`` "drop": bytes vanish and connections hang (a pulled cable);
        "reject": connections are reset and new ones refused.
        """
        with self._lock:
            return self._set_partition(shapes.from_groups(groups, self._nodes), mode)

    def partition_shape(
        self,
        name: str,
        nodes: Sequence[str] | None = None,
        *,
        mode: str = "drop",
        shuffle: bool = False,
        **kw: Any,
    ) -> Partition:
        """A named shape over ``nodes`` (default: all): halves, isolate(node=),
        majority_minority, majorities_ring, bridge, asymmetric(a=, b=), groups(groups=).

        ``shuffle`` orders the nodes by the seeded generator first, so who ends
        up where is random but reproducible from the root seed.
        """
        with self._lock:
            chosen = list(self._nodes if nodes is None else nodes)
            shapes.check_known(chosen, self._nodes, f"partition shape {name!r}")
            if shuffle:
                self.rng.shuffle(chosen)
            return self._set_partition(shapes.shape(name, chosen, **kw), mode)

    def _set_partition(self, partition: Partition, mode: str) -> Partition:
        _check_mode(mode)
        self._partition, self._partition_mode = partition, mode
        self._sync()
        events.emit(
            events.PartitionChanged(
                mode=mode,
                shape=partition.shape,
                groups=tuple(tuple(g) for g in partition.groups),
                cut=tuple(tuple(flow) for flow in sorted(partition.cut)),
            )
        )
        return partition

    def cut(self, src: str, dst: str, mode: str = "drop") -> None:
        """Cut one direction only: bytes from ``src`` to ``dst`` stop, inside live connections too."""
        _check_mode(mode)
        with self._lock:
            self._change([(src, dst)], block=mode)

    def latency(self, links: Iterable[LinkSpec] | None, ms: float, jitter_ms: float = 0) -> None:
        """Delay bytes on each flow ``src -> dst`` by ``ms`` (+- ``jitter_ms``)."""
        _check_number("latency", ms, "ms")
        _check_number("jitter", jitter_ms, "ms")
        check = getattr(self.backend, "check_latency", None)
        if check is not None and (ms > 0 or jitter_ms > 0):
            check()  # a backend that cannot delay says so before anything changes
        with self._lock:
            self._change(links, latency_ms=float(ms), jitter_ms=float(jitter_ms))

    def loss(self, links: Iterable[LinkSpec] | None, probability: float) -> None:
        """Lose each chunk with ``probability``; TCP resends it, so it arrives one RTO late."""
        _check_number("loss probability", probability, "", upper=1.0)
        with self._lock:
            self._change(links, loss=float(probability))

    def stall(self, links: Iterable[LinkSpec] | None) -> None:
        """Hold bytes (not lose them) until healed."""
        with self._lock:
            self._change(links, stall=True)

    def bandwidth(self, links: Iterable[LinkSpec] | None, kbit_s: float) -> None:
        """Limit each flow to ``kbit_s`` kilobits per second."""
        _check_number("bandwidth", kbit_s, "kbit/s")
        if kbit_s == 0:
            raise UsageError("bandwidth must be more than 0 kbit/s (use cut() to stop a link)")
        with self._lock:
            self._change(links, kbit_s=float(kbit_s))

    def reset(self, links: Iterable[LinkSpec] | None = None) -> int:
        """Reset the live connections on ``links`` now (new ones may connect); returns how many."""
        with self._lock:
            flows = self._resolve(links)
            count = self.backend.reset(flows)
        events.emit(
            events.Log(
                level="info",
                source="net",
                message=f"reset {count} connection(s) on {len(flows)} flow(s)",
            )
        )
        return count

    def heal(self, links: Iterable[LinkSpec] | None = None, *, reset_gaps: bool = False) -> None:
        """Clear faults on ``links`` (and take them out of the partition); None heals everything.

        A connection that lost bytes to a drop resumes with that hole in its
        stream (as with Toxiproxy). ``reset_gaps=True`` resets such connections
        instead -- what real TCP amounts to (a retransmission timeout), so a
        system under test never parses a stream no real network could produce.
        """
        with self._lock:
            had = self._partition is not None
            if links is None:
                self._link_faults.clear()
                self._partition = None
            else:
                flows = self._resolve(links)
                for flow in flows:
                    self._link_faults.pop(flow, None)
                if self._partition is not None:
                    p = self._partition
                    rest = p.cut - set(flows)
                    # Healing every cut flow heals the partition itself.
                    self._partition = Partition(p.shape, p.groups, rest) if rest else None
            self._sync(reset_gaps)
            if had and self._partition is None:
                events.emit(events.PartitionChanged())

    def _change(self, links: Iterable[LinkSpec] | None, **faults: Any) -> None:
        for flow in self._resolve(links):
            self._link_faults[flow] = self._link_faults.get(flow, HEALTHY).merge(**faults)
        self._sync()

    def _resolve(self, links: Iterable[LinkSpec] | None) -> list[Flow]:
        if links is None:
            return self.flows()
        if isinstance(links, str) or (
            isinstance(links, tuple) and len(links) == 2 and all(isinstance(x, str) for x in links)
        ):
            raise UsageError(f"links must be a list of (src, dst) pairs, got {links!r}")
        flows: list[Flow] = []
        for spec in links:
            flow = _parse_link(spec)
            for end in flow:
                if end not in self._endpoints:
                    raise UsageError(
                        f"link {flow_name(flow)}: unknown node {end!r}; "
                        f"known: {', '.join(self._endpoints) or 'none yet'}"
                    )
            if flow[0] == flow[1]:
                raise UsageError(f"link {flow_name(flow)} joins a node to itself")
            flows.append(flow)
        return flows

    def effective(self) -> dict[Flow, FlowFaults]:
        """The faults in force per flow: link faults, with the partition's cut on top."""
        table = {f: x for f, x in self._link_faults.items() if not x.healthy}
        if self._partition is not None:
            for flow in self._partition.cut:
                current = table.get(flow, HEALTHY)
                if current.block is None:
                    table[flow] = current.merge(block=self._partition_mode)
        return table

    def _sync(self, reset_gaps: bool = False) -> None:
        """Send the backend what changed, then tell listeners."""
        if self._closed:
            raise UsageError("the network is closed")
        new = self.effective()
        changes = {
            flow: new.get(flow, HEALTHY)
            for flow in set(new) | set(self._applied)
            if new.get(flow, HEALTHY) != self._applied.get(flow, HEALTHY)
        }
        self.backend.apply(changes, reset_gaps)
        self._applied = new
        for (src, dst), faults in sorted(changes.items()):
            events.emit(events.LinkState(src=src, dst=dst, faults=faults.to_dict()))

    # -- looking -----------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """A snapshot: entry points, the faults per flow, the partition in force."""
        with self._lock:
            proxies = self.backend.describe() if not self._closed else []
            return {
                "backend": self.backend.name,
                "nodes": list(self._nodes),
                "proxies": proxies,
                "faults": {flow_name(f): x.to_dict() for f, x in sorted(self._applied.items())},
                "topology": None
                if self._topology is None
                else [flow_name(f) for f in self._topology],
                "partition": None
                if self._partition is None
                else {**self._partition.describe(), "mode": self._partition_mode},
            }

    def close(self) -> None:
        """Stop every proxy and the proxy server. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.backend.close()


def _address(upstream: Any) -> tuple[str, int]:
    try:
        host, port = upstream
        port = int(port)
    except (TypeError, ValueError):
        raise UsageError(f"upstream must be (host, port), got {upstream!r}") from None
    if not 0 < port < 65536:
        raise UsageError(f"upstream port must be from 1 to 65535, got {port}")
    return (str(host), port)


def _parse_link(spec: LinkSpec) -> Flow:
    if isinstance(spec, str) and "->" in spec:
        src, _, dst = spec.partition("->")
        return (src.strip(), dst.strip())
    if isinstance(spec, list | tuple) and len(spec) == 2 and all(isinstance(x, str) for x in spec):
        return (spec[0], spec[1])
    raise UsageError(f'a link is (src, dst) or "src->dst", got {spec!r}')


def _check_mode(mode: str) -> None:
    if mode not in BLOCK_MODES:
        raise UsageError(
            f"partition mode {mode!r} is not known; use one of {', '.join(BLOCK_MODES)}"
        )


def _check_number(what: str, value: Any, unit: str, upper: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"{what} must be a number, got {value!r}")
    if value < 0:
        raise UsageError(f"{what} must be >= 0{' ' + unit if unit else ''}, got {value}")
    if upper is not None and value > upper:
        raise UsageError(f"{what} must be from 0 to {upper}, got {value}")
