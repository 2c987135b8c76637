"""The live event stream: typed events (``distlab.event_types``) as JSON lines.

On disk and on the wire each event is one JSON object per line with ``v``
(the schema version), ``ts`` and ``kind`` plus the event's fields
(DESIGN.md, "Events"; docs/events.md). ``encode`` and ``decode`` are the only
places that know that shape: everyone else builds and matches the dataclasses.

Producers (the pytest plugin, the cluster, the nemesis, workloads, the lab)
call ``emit(SomeEvent(...))``; where the events go is decided by
``DISTLAB_EVENTS``:

- ``unix:/path/to.sock`` -- a listening Unix socket (the runner's live feed);
- ``file:/path/events.jsonl`` or a bare path -- appended to a file;
- unset -- events are dropped (a plain ``pytest`` run outside distlab).

Writes are line-buffered per event and serialised by a lock, so events from
several threads never interleave inside a line.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import IO, Any

import orjson

from distlab.env import EVENTS_ENV
from distlab.event_types import (
    BY_KIND,
    EVENT_TYPES,
    CheckVerdict,
    Collect,
    CollectedTest,
    CollectError,
    Event,
    FaultEnd,
    FaultStart,
    GateResult,
    LayerEnd,
    LayerEvent,
    LayerStart,
    LinkState,
    Log,
    Metric,
    NodeRole,
    NodeSample,
    NodeStateChanged,
    PartitionChanged,
    RunEnd,
    RunStart,
    TestEnd,
    TestStart,
    WorkloadSample,
)

__all__ = [
    "BY_KIND",
    "EVENTS_ENV",
    "EVENT_TYPES",
    "SCHEMA_VERSION",
    "CheckVerdict",
    "Collect",
    "CollectError",
    "CollectedTest",
    "Event",
    "EventDecodeError",
    "EventSink",
    "FaultEnd",
    "FaultStart",
    "GateResult",
    "LayerEnd",
    "LayerEvent",
    "LayerStart",
    "LinkState",
    "Log",
    "Metric",
    "NodeRole",
    "NodeSample",
    "NodeStateChanged",
    "PartitionChanged",
    "RunEnd",
    "RunStart",
    "TestEnd",
    "TestStart",
    "WorkloadSample",
    "decode",
    "decode_line",
    "emit",
    "encode",
    "read_events",
    "redirect",
    "sink",
]

# Version 1 is the untyped format of distlab 0.1 (the same fields, as loose
# dicts); version 2 is written from these classes. Both decode (a v1 file is a
# v2 file whose values were never checked), so old run directories replay.
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)


class EventDecodeError(ValueError):
    """An event line that cannot be read; the message is one line."""


# -- encode ---------------------------------------------------------------------------


def to_dict(event: Event) -> dict[str, Any]:
    """An event as the JSON object written for it (``v``, ``ts``, ``kind`` first)."""
    out: dict[str, Any] = {"v": SCHEMA_VERSION, "ts": event.ts, "kind": event.kind}
    for name in _field_names(type(event)):
        if name != "ts":
            out[name] = getattr(event, name)
    return out


def encode(event: Event) -> bytes:
    """One event as a JSON line (compact, UTF-8, newline-terminated)."""
    # default=str: fault params may carry values JSON has no type for (a Path).
    return orjson.dumps(to_dict(event), default=str, option=orjson.OPT_APPEND_NEWLINE)


# -- decode ---------------------------------------------------------------------------


def decode(obj: object) -> Event:
    """The typed event for one decoded JSON object.

    Unknown fields are ignored (a newer producer); missing ones take their
    defaults (an older producer). A field of the wrong type, an unknown kind
    or an unreadable version raises ``EventDecodeError`` naming the field.
    """
    if not isinstance(obj, dict):
        raise EventDecodeError(f"an event must be a JSON object, got {_show(obj)}")
    kind = obj.get("kind")
    cls = BY_KIND.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EventDecodeError(f"unknown event kind {_show(kind)}")
    version = obj.get("v", 1)
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise EventDecodeError(
            f"{kind} event has schema version {_show(version)}; this distlab reads "
            + " and ".join(str(v) for v in READABLE_VERSIONS)
        )
    if version == 1:
        obj = _from_v1(obj)
    return _build(cls, obj, cls.kind)


def _from_v1(obj: dict[str, Any]) -> dict[str, Any]:
    """What v1 wrote differently: the lab's ``fault.start`` named its target
    as one string ("n2", "all") where the nemesis wrote a list of node ids."""
    if obj.get("kind") == "fault.start" and isinstance(obj.get("target"), str):
        return {**obj, "target": [obj["target"]]}
    return obj


def decode_line(line: bytes | str) -> Event:
    """The typed event of one JSON line."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise EventDecodeError(f"not JSON ({e.msg})") from None
    return decode(obj)


@dataclass
class ReadStats:
    """What ``read_events`` skipped, so a reader can say so instead of guessing."""

    events: int = 0
    skipped: int = 0
    first_problem: str = ""


def read_events(path: str | os.PathLike[str], stats: ReadStats | None = None) -> Iterator[Event]:
    """Read an ``events.jsonl`` file as typed events.

    A torn last line (a killed writer) and lines that do not decode are
    skipped and counted in ``stats`` (with the first problem, located).
    """
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                event = decode_line(line)
            except EventDecodeError as e:
                if stats is not None:
                    stats.skipped += 1
                    if not stats.first_problem:
                        stats.first_problem = f"{os.fspath(path)}:{number}: {e}"
                continue
            if stats is not None:
                stats.events += 1
            yield event


# Converters check one JSON value against a field's declared type and return
# the value to store, raising _Mismatch with what was expected.
class _Mismatch(Exception):
    def __init__(self, expected: str, nested: str = "") -> None:
        super().__init__(expected)
        self.nested = nested  # the whole complaint about a nested object's field


Converter = Callable[[Any], Any]
_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _field_names(cls: type[Any]) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


@dataclass(frozen=True)
class _Recipe:
    """How to build one class from a JSON object, worked out once per class."""

    converters: dict[str, Converter]
    defaults: dict[str, Any]  # plain defaults, shared (immutable values only)
    factories: tuple[tuple[str, Callable[[], Any]], ...]  # fresh values (dicts, the time)


_RECIPES: dict[type[Any], _Recipe] = {}


def _recipe(cls: type[Any]) -> _Recipe:
    recipe = _RECIPES.get(cls)
    if recipe is None:
        hints = typing.get_type_hints(cls)
        defaults: dict[str, Any] = {}
        factories: list[tuple[str, Callable[[], Any]]] = []
        for f in fields(cls):
            if f.default is not MISSING:
                defaults[f.name] = f.default
            elif f.default_factory is not MISSING:
                factories.append((f.name, f.default_factory))
        recipe = _RECIPES[cls] = _Recipe(
            {f.name: _converter(hints[f.name]) for f in fields(cls)}, defaults, tuple(factories)
        )
    return recipe


def _build(cls: type[Any], obj: dict[str, Any], where: str) -> Any:
    # Decoding is on the dashboard's hot path (tens of thousands of events a
    # second), so the instance is filled in directly rather than through the
    # frozen dataclass's __init__ (one object.__setattr__ per field). Every
    # field is set, from the object or from its default, exactly as __init__
    # would; the classes have no __post_init__.
    recipe = _recipe(cls)
    values = dict(recipe.defaults)
    for name, factory in recipe.factories:
        if obj.get(name) is None:
            values[name] = factory()
    converters = recipe.converters
    for name, raw in obj.items():
        convert = converters.get(name)
        if convert is None or raw is None:
            continue  # unknown (a newer producer), or null (an older one): the default
        try:
            values[name] = convert(raw)
        except _Mismatch as e:
            problem = e.nested or f"must be {e}, got {_show(raw)}"
            raise EventDecodeError(f"{where} event: field {name!r} {problem}") from None
    event = object.__new__(cls)
    event.__dict__.update(values)
    return event


def _converter(tp: Any) -> Converter:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return _any
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _converter(inner[0]) if len(inner) == 1 else _any
    if tp is str:
        return _str
    if tp is bool:
        return _bool
    if tp is int:
        return _int
    if tp is float:
        return _float
    if origin is tuple:
        item = _converter(args[0])
        return lambda v: _seq(v, item)
    if origin is dict:
        value = _converter(args[1])
        return lambda v: _mapping(v, value)
    if isinstance(tp, type) and hasattr(tp, "__dataclass_fields__"):
        return lambda v: _nested(tp, v)
    raise TypeError(f"no event converter for {tp!r}")  # a programming error in event_types


def _any(v: Any) -> Any:
    return v


def _str(v: Any) -> str:
    if isinstance(v, str):
        return v
    raise _Mismatch("a string")


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise _Mismatch("true or false")


def _int(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    raise _Mismatch("a whole number")


def _float(v: Any) -> float:
    if isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(v):
        return float(v)
    raise _Mismatch("a number")


def _seq(v: Any, item: Converter) -> tuple[Any, ...]:
    if not isinstance(v, list):
        raise _Mismatch("a list")
    return tuple(item(x) for x in v)


def _mapping(v: Any, value: Converter) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise _Mismatch("an object")
    return {str(k): value(x) for k, x in v.items()}


def _nested(cls: type[Any], v: Any) -> Any:
    if not isinstance(v, dict):
        raise _Mismatch("an object")
    try:
        return _build(cls, v, "")
    except EventDecodeError as e:
        raise _Mismatch(
            "an object", nested=f"has an item whose{str(e)[len(' event:') :]}"
        ) from None


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- sinks ----------------------------------------------------------------------------


class EventSink:
    """Where ``emit`` writes. Thread-safe; never raises into the producer."""

    def __init__(self, target: str | None) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._sock: socket.socket | None = None
        self._broken = False
        if not target:
            return
        if target.startswith("unix:"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(target[len("unix:") :])
            self._sock = sock
        else:
            path = target[len("file:") :] if target.startswith("file:") else target
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the sink

    @property
    def enabled(self) -> bool:
        return (self._file is not None or self._sock is not None) and not self._broken

    def write(self, event: Event) -> None:
        """Write one event; a listener that went away disables the sink quietly."""
        if not self.enabled:
            return
        data = encode(event)
        with self._lock:
            try:
                if self._sock is not None:
                    self._sock.sendall(data)
                elif self._file is not None:
                    self._file.write(data)
            except OSError:
                # The runner died or closed the feed: tests must go on regardless.
                self._broken = True

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            if self._file is not None:
                self._file.close()
                self._file = None


_sink: EventSink | None = None
_sink_lock = threading.Lock()


def sink() -> EventSink:
    """The process-wide sink named by ``DISTLAB_EVENTS`` (opened on first use)."""
    global _sink
    if _sink is None:
        with _sink_lock:
            if _sink is None:
                try:
                    _sink = EventSink(os.environ.get(EVENTS_ENV))
                except OSError:
                    _sink = EventSink(None)
    return _sink


def redirect(target: str | None) -> str | None:
    """Send this process's events to ``target`` from now on (None: nowhere).

    Sets ``DISTLAB_EVENTS`` (so child processes follow) and closes the current
    sink; the next ``emit`` opens the new one. Returns the previous target.
    """
    global _sink
    previous = os.environ.get(EVENTS_ENV)
    if target is None:
        os.environ.pop(EVENTS_ENV, None)
    else:
        os.environ[EVENTS_ENV] = target
    with _sink_lock:
        if _sink is not None and _sink.target != target:
            _sink.close()
            _sink = None
    return previous


def emit(event: Event) -> Event:
    """Send one event to the process-wide sink and return it."""
    sink().write(event)
    return event
