"""What is wrong with one direction of traffic between two endpoints.

The unit of fault state is a *flow*: bytes travelling from endpoint ``src``
to endpoint ``dst``. A proxied connection dialled by ``a`` to ``b`` carries
two flows, ``(a, b)`` for what the dialler sends and ``(b, a)`` for the
replies, so a directional cut can drop one way inside a live connection while
the other way keeps working. This module is pure data: no sockets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

Flow = tuple[str, str]
Block = Literal["drop", "reject"]
BLOCK_MODES: tuple[str, ...] = ("drop", "reject")

# Endpoints that are not cluster nodes: partitions between node groups leave
# them alone; faults can still be put on their links by name.
CLIENT = "client"
DATABASE = "db"
NON_NODES = frozenset({CLIENT, DATABASE})


@dataclass(frozen=True)
class FlowFaults:
    """The faults on one flow. The default (all off) means healthy."""

    block: Block | None = None  # "drop": bytes vanish; "reject": connections reset
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0  # chance that a chunk waits for a retransmission timeout
    stall: bool = False  # bytes are held (not lost) until healed
    kbit_s: float = 0.0  # 0 = unlimited

    @property
    def healthy(self) -> bool:
        return self == HEALTHY

    def merge(self, **changes: Any) -> FlowFaults:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Only the faults that are on, in the ``link.state`` event's wording."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value != getattr(HEALTHY, f.name):
                out["partition" if f.name == "block" else f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FlowFaults:
        """Inverse of ``to_dict``."""
        data = dict(data)
        if "partition" in data:
            data["block"] = data.pop("partition")
        return cls(**data)

    def as_wire(self) -> dict[str, Any]:
        """Every field, for the proxy server's control protocol."""
        return asdict(self)


HEALTHY = FlowFaults()


def flow_name(flow: Flow) -> str:
    """``n1->n2``: how a flow is named in state snapshots."""
    return f"{flow[0]}->{flow[1]}"
