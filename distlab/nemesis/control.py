"""What the nemesis needs from the world, one small protocol per capability.

As Jepsen's ``db/Kill``, ``db/Pause`` and ``net/Net``: a fault acts on nodes
(``NodeControl``), on the network between them (``NetControl``) or on the
database (``DbControl``), and marks its window in the history
(``FaultRecorder``). ``distlab.cluster.Cluster``, ``distlab.net.Network``,
``distlab.pg.Postgres`` and ``distlab.workload.HistoryRecorder`` satisfy them
(mypy checks it at the bottom of this file); a system of your own, or a fake
in a test, only has to offer these few calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from distlab.net.faults import Flow
from distlab.net.shapes import Partition


class ControlledNode(Protocol):
    """One node: its state, its process, its data, and the four things a fault does to it."""

    @property
    def state(self) -> str:
        """``up``, ``paused``, ``starting``, ``down``, ``crashed``..."""
        ...

    @property
    def pid(self) -> int | None:
        """The running process, None when it is down."""
        ...

    @property
    def data_dir(self) -> Path: ...

    def kill(self) -> None:
        """SIGKILL; the node stays down until ``restart``."""
        ...

    def pause(self) -> None:
        """SIGSTOP, returning once the kernel stopped it."""
        ...

    def resume(self) -> None:
        """SIGCONT a paused node."""
        ...

    def restart(self) -> None:
        """Stop if running, start again with the same id, ports and data, wait until healthy."""
        ...


class NodeControl(Protocol):
    """The nodes a nemesis can hit, by id."""

    @property
    def ids(self) -> Sequence[str]: ...

    def __getitem__(self, node_id: str) -> ControlledNode: ...


class NetControl(Protocol):
    """The fault-injecting network between the nodes (and their clients and database)."""

    @property
    def nodes(self) -> list[str]:
        """The cluster nodes it carries traffic between."""
        ...

    def flows(self) -> list[Flow]:
        """Every directed flow that can carry traffic."""
        ...

    def partition(self, groups: Sequence[Sequence[str]], mode: str = "drop") -> Partition:
        """Split the nodes into ``groups``; no flow crosses between them."""
        ...

    def partition_shape(
        self, name: str, nodes: Sequence[str] | None = None, *, mode: str = "drop", node: str = ...
    ) -> Partition:
        """Partition ``nodes`` in the named shape (``isolate`` takes ``node=``)."""
        ...

    def cut(self, src: str, dst: str, mode: str = "drop") -> None: ...

    def latency(self, links: Iterable[Flow] | None, ms: float, jitter_ms: float = 0) -> None: ...

    def loss(self, links: Iterable[Flow] | None, probability: float) -> None: ...

    def bandwidth(self, links: Iterable[Flow] | None, kbit_s: float) -> None: ...

    def heal(self, links: Iterable[Flow] | None = None, *, reset_gaps: bool = False) -> None:
        """Clear the faults on ``links``; None heals everything. ``reset_gaps``: reset
        the connections that lost bytes rather than resume them with a hole."""
        ...


@runtime_checkable
class WithNet(Protocol):
    """Nodes that bring the network their links run through (``Cluster.net``; None: direct)."""

    @property
    def net(self) -> NetControl | None: ...


class DbControl(Protocol):
    """The database: where clients connect, and its process's life."""

    @property
    def dsn(self) -> str: ...

    def kill(self) -> None:
        """SIGKILL the server; it stays down until ``restart``."""
        ...

    def restart(self) -> None:
        """Start it again on the same data, ready for connections."""
        ...


class FaultRecorder(Protocol):
    """Where a fault's window is marked, beside the operations it overlapped."""

    def fault_start(self, fault_id: str, fault: str, target: list[str]) -> None: ...

    def fault_end(self, fault_id: str, fault: str) -> None: ...


if TYPE_CHECKING:  # the real parts satisfy the protocols: mypy checks these lines
    from distlab.cluster import Cluster
    from distlab.net import Network
    from distlab.pg import Postgres
    from distlab.workload import HistoryRecorder

    def _nodes(c: Cluster) -> NodeControl:
        return c

    def _with_net(c: Cluster) -> WithNet:
        return c

    def _net(n: Network) -> NetControl:
        return n

    def _db(p: Postgres) -> DbControl:
        return p

    def _marks(h: HistoryRecorder) -> FaultRecorder:
        return h
