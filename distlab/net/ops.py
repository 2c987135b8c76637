"""The proxy server's control requests: one frozen dataclass per op.

The controller (``ProxyBackend``) sends ``encode(op)`` as a JSON line; the
switchboard ``decode``s each line once, here, and matches on the type. A
request that does not fit -- an unknown op, a missing, extra or mistyped
field -- is a one-line ``BadRequest`` naming the op and the field, before
anything changes. Both ends are this module, so a renamed field is a type
error, not a silently ignored key.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

from distlab.net.faults import BLOCK_MODES, HEALTHY, Flow, FlowFaults

Address = tuple[str, int]
Wire = dict[str, object]


class BadRequest(ValueError):
    """A control request that does not decode; the message names the op and the field."""


class _Wrong(Exception):
    """What a field should have been (raised by a ``_Fields`` reader, worded by it)."""


class _Fields:
    """Reads the fields of one request, each once, and says which one is wrong."""

    _MISSING: ClassVar[object] = object()

    def __init__(self, op: str, data: dict[str, object]) -> None:
        self.op = op
        self.data = data
        self.read: set[str] = set()

    def _get(self, name: str, default: object) -> object:
        self.read.add(name)
        value = self.data.get(name, default)
        if value is self._MISSING:
            raise BadRequest(f"control op {self.op}: {name} is missing")
        return value

    def _fail(self, name: str, want: str, value: object) -> BadRequest:
        return BadRequest(f"control op {self.op}: {name} must be {want}, got {value!r}")

    def text(self, name: str, default: object = _MISSING) -> str:
        value = self._get(name, default)
        if not isinstance(value, str):
            raise self._fail(name, "a string", value)
        return value

    def flag(self, name: str, default: object = _MISSING) -> bool:
        value = self._get(name, default)
        if not isinstance(value, bool):
            raise self._fail(name, "true or false", value)
        return value

    def port(self, name: str, default: object = _MISSING) -> int:
        value = self._get(name, default)
        try:
            return _port(value)
        except _Wrong as e:
            raise self._fail(name, str(e), value) from None

    def address(self, name: str) -> Address:
        value = self._get(name, self._MISSING)
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
            try:
                return (value[0], _port(value[1]))
            except _Wrong:
                pass
        raise self._fail(name, "[host, port]", value)

    def flows(self, name: str) -> tuple[Flow, ...]:
        value = self._get(name, self._MISSING)
        if not isinstance(value, list):
            raise self._fail(name, "a list of [src, dst]", value)
        try:
            return tuple(_flow(item) for item in value)
        except _Wrong:
            raise self._fail(name, "a list of [src, dst]", value) from None

    def flows_or_none(self, name: str) -> tuple[Flow, ...] | None:
        return None if self._get(name, self._MISSING) is None else self.flows(name)

    def changes(self, name: str) -> tuple[tuple[Flow, FlowFaults], ...]:
        value = self._get(name, self._MISSING)
        want = "a list of [src, dst, faults or null]"
        if not isinstance(value, list):
            raise self._fail(name, want, value)
        out: list[tuple[Flow, FlowFaults]] = []
        for item in value:
            if not isinstance(item, list) or len(item) != 3:
                raise self._fail(name, want, item)
            try:
                out.append((_flow(item[:2]), _faults(item[2])))
            except _Wrong as e:
                raise self._fail(name, f"{want} ({e})", item) from None
        return tuple(out)

    def done(self) -> None:
        extra = sorted(set(self.data) - self.read)
        if extra:
            raise BadRequest(f"control op {self.op}: unknown field {extra[0]!r}")


def _port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise _Wrong("a port from 0 to 65535")
    return value


def _flow(value: object) -> Flow:
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], str)
    ):
        return (value[0], value[1])
    raise _Wrong("a flow is [src, dst]")


_FAULT_FIELDS = {f.name: f for f in fields(FlowFaults)}


def _faults(value: object) -> FlowFaults:
    """``None`` is healthy; otherwise every field of ``FlowFaults`` by name."""
    if value is None:
        return HEALTHY
    if not isinstance(value, dict):
        raise _Wrong("faults are an object or null")
    for key, v in value.items():
        if key not in _FAULT_FIELDS:
            raise _Wrong(f"unknown fault {key!r}")
        if key == "block":
            ok = v is None or v in BLOCK_MODES
        elif key == "stall":
            ok = isinstance(v, bool)
        else:
            ok = isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
        if not ok:
            raise _Wrong(f"{key} cannot be {v!r}")
    return FlowFaults(**value)


# -- the ops --------------------------------------------------------------------------


@dataclass(frozen=True)
class AddLink:
    """Listen for ``src``'s connections to ``dst`` (at ``upstream``); replies the port."""

    op: ClassVar[str] = "add_link"
    src: str
    dst: str
    upstream: Address
    port: int = 0

    def wire(self) -> Wire:
        return {
            "src": self.src,
            "dst": self.dst,
            "upstream": list(self.upstream),
            "port": self.port,
        }

    @classmethod
    def read(cls, f: _Fields) -> AddLink:
        return cls(f.text("src"), f.text("dst"), f.address("upstream"), f.port("port", 0))


@dataclass(frozen=True)
class AddIngress:
    """One entry point for every dialler of ``dst``, told apart by ``identify``; replies the port."""

    op: ClassVar[str] = "add_ingress"
    dst: str
    upstream: Address
    identify: str
    unidentified: str = "reject"
    port: int = 0

    def wire(self) -> Wire:
        return {
            "dst": self.dst,
            "upstream": list(self.upstream),
            "identify": self.identify,
            "unidentified": self.unidentified,
            "port": self.port,
        }

    @classmethod
    def read(cls, f: _Fields) -> AddIngress:
        return cls(
            f.text("dst"),
            f.address("upstream"),
            f.text("identify"),
            f.text("unidentified", "reject"),
            f.port("port", 0),
        )


@dataclass(frozen=True)
class SetFaults:
    """Set the faults of each flow (``HEALTHY`` clears them); replies how many flows.

    ``reset_gaps``: reset the connections that lost bytes and are open again.
    """

    op: ClassVar[str] = "set_faults"
    changes: tuple[tuple[Flow, FlowFaults], ...]
    reset_gaps: bool = False

    def wire(self) -> Wire:
        faults = [[s, d, None if f.healthy else f.as_wire()] for (s, d), f in self.changes]
        return {"faults": faults, "reset_gaps": self.reset_gaps}

    @classmethod
    def read(cls, f: _Fields) -> SetFaults:
        return cls(f.changes("faults"), f.flag("reset_gaps", False))


@dataclass(frozen=True)
class SetTopology:
    """Ingress diallers may dial only along ``links`` (None: any); replies connections reset."""

    op: ClassVar[str] = "set_topology"
    links: tuple[Flow, ...] | None

    def wire(self) -> Wire:
        return {"links": None if self.links is None else [list(f) for f in self.links]}

    @classmethod
    def read(cls, f: _Fields) -> SetTopology:
        return cls(f.flows_or_none("links"))


@dataclass(frozen=True)
class SetAddressBook:
    """Every address a node is known by -> its id, for ingress rules that capture a
    port or an address (``distlab.net.ingress``); replies how many entries."""

    op: ClassVar[str] = "set_address_book"
    entries: tuple[tuple[str, str], ...]

    def wire(self) -> Wire:
        return {"entries": [list(e) for e in self.entries]}

    @classmethod
    def read(cls, f: _Fields) -> SetAddressBook:
        return cls(f.flows("entries"))  # [address, id] pairs have a flow's shape


@dataclass(frozen=True)
class Reset:
    """Reset every live connection carrying one of ``flows``; replies how many."""

    op: ClassVar[str] = "reset"
    flows: tuple[Flow, ...]

    def wire(self) -> Wire:
        return {"flows": [list(f) for f in self.flows]}

    @classmethod
    def read(cls, f: _Fields) -> Reset:
        return cls(f.flows("flows"))


@dataclass(frozen=True)
class State:
    """Replies the proxies, the fault table and the topology."""

    op: ClassVar[str] = "state"

    def wire(self) -> Wire:
        return {}

    @classmethod
    def read(cls, f: _Fields) -> State:
        return cls()


@dataclass(frozen=True)
class Ping:
    """Replies ``"pong"``."""

    op: ClassVar[str] = "ping"

    def wire(self) -> Wire:
        return {}

    @classmethod
    def read(cls, f: _Fields) -> Ping:
        return cls()


@dataclass(frozen=True)
class Close:
    """Stop listening, reset every connection; the server then exits."""

    op: ClassVar[str] = "close"

    def wire(self) -> Wire:
        return {}

    @classmethod
    def read(cls, f: _Fields) -> Close:
        return cls()


Op = AddLink | AddIngress | SetFaults | SetTopology | SetAddressBook | Reset | State | Ping | Close
OPS: dict[str, type[Op]] = {
    cls.op: cls
    for cls in (
        AddLink,
        AddIngress,
        SetFaults,
        SetTopology,
        SetAddressBook,
        Reset,
        State,
        Ping,
        Close,
    )
}


def encode(op: Op) -> Wire:
    """The JSON-able request for ``op``."""
    return {"op": op.op, **op.wire()}


def decode(request: object) -> Op:
    """The op a JSON-decoded request asks for, or a one-line ``BadRequest``."""
    if not isinstance(request, dict):
        raise BadRequest(f"a control request is a JSON object, got {request!r}")
    name = request.get("op")
    cls = OPS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise BadRequest(f"unknown control op {name!r}; known: {', '.join(OPS)}")
    f = _Fields(cls.op, {k: v for k, v in request.items() if k != "op"})
    op = cls.read(f)
    f.done()
    return op
