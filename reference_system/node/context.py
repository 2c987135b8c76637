"""Trace context: a trace id, free-form baggage and a hop counter on every call.

A client sends ``ctx`` with each request (hops 0); every node that receives a
request, from a client or from a peer, counts one more hop. So a request that
goes client -> n1 -> n2 -> n3 is seen by n3 with the client's trace id and
``hops == 3``. A missing or malformed context starts a new trace rather than
failing the request: tracing must never make a request fail.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

MAX_BAGGAGE_ITEMS = 32


@dataclass(frozen=True)
class TraceContext:
    """The context as one node sees it."""

    trace_id: str
    hops: int = 0
    baggage: dict[str, str] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        """The ``ctx`` field to send on the next call."""
        return {"trace_id": self.trace_id, "hops": self.hops, "baggage": self.baggage}


def new_context() -> TraceContext:
    """A fresh trace, as if no context had been received."""
    return TraceContext(uuid.uuid4().hex)


def received(raw: Any) -> TraceContext:
    """The context of a call that just arrived here: the sender's, one hop further."""
    if not isinstance(raw, dict):
        return TraceContext(uuid.uuid4().hex, 1)
    trace_id = raw.get("trace_id")
    if not isinstance(trace_id, str) or not trace_id or len(trace_id) > 128:
        trace_id = uuid.uuid4().hex
    hops = raw.get("hops")
    if not isinstance(hops, int) or isinstance(hops, bool) or not 0 <= hops < 1_000:
        hops = 0
    baggage_in = raw.get("baggage")
    baggage: dict[str, str] = {}
    if isinstance(baggage_in, dict):
        for k, v in list(baggage_in.items())[:MAX_BAGGAGE_ITEMS]:
            if isinstance(k, str) and isinstance(v, str):
                baggage[k] = v
    return TraceContext(trace_id, hops + 1, baggage)
