"""The replicated state machine: a KV store, a name registry and pub/sub events.

Every node applies the same committed commands in the same order, so this
module must be deterministic: no clocks, no randomness, no I/O. Commands and
results are plain JSON-able dicts because they travel in log entries and
replies.

Commands (the ``op`` field) that go through the log: ``put``, ``cas``,
``delete``, ``register``, ``unregister``, ``publish``. Reads (``get``,
``lookup``) do not change state; the node serves them after a ReadIndex
round, from ``read``.

Retried commands are answered, not re-applied: a command may carry a request
id ``rid``; the result of the last ``DEDUP_WINDOW`` ids is remembered, so a
client that retries a put whose first attempt did commit gets the first
answer instead of applying it twice.
"""

from __future__ import annotations

import fnmatch
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

WRITE_OPS = frozenset({"put", "cas", "delete", "register", "unregister", "publish"})
READ_OPS = frozenset({"get", "lookup"})
DEDUP_WINDOW = 50_000
MAX_KEY = 1024


class BadCommand(ValueError):
    """A request with a missing field or a field of the wrong type."""


def _need_str(req: dict[str, Any], name: str) -> str:
    value = req.get(name)
    if not isinstance(value, str) or not value:
        raise BadCommand(f"{name!r} must be a non-empty string, got {_show(value)}")
    if len(value) > MAX_KEY:
        raise BadCommand(f"{name!r} must be at most {MAX_KEY} characters, got {len(value)}")
    return value


def _need_value(req: dict[str, Any], name: str) -> Any:
    if name not in req or req[name] is None:
        raise BadCommand(f"{name!r} is required (a string, number, bool, list or object)")
    return req[name]


def _show(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def parse_command(req: dict[str, Any]) -> dict[str, Any]:
    """The log command for a client request (only the fields that matter); ``BadCommand`` if invalid."""
    op = req.get("op")
    rid = req.get("rid")
    if rid is not None and not isinstance(rid, str):
        raise BadCommand(f"'rid' must be a string, got {_show(rid)}")
    if op == "put":
        cmd = {"op": op, "key": _need_str(req, "key"), "value": _need_value(req, "value")}
    elif op == "cas":
        if "expected" not in req:
            raise BadCommand("'expected' is required (null means the key must be absent)")
        cmd = {
            "op": op,
            "key": _need_str(req, "key"),
            "expected": req["expected"],
            "value": _need_value(req, "value"),
        }
    elif op == "delete":
        cmd = {"op": op, "key": _need_str(req, "key")}
    elif op == "register":
        cmd = {"op": op, "name": _need_str(req, "name"), "owner": _need_str(req, "owner")}
    elif op == "unregister":
        cmd = {"op": op, "name": _need_str(req, "name")}
        if req.get("owner") is not None:
            cmd["owner"] = _need_str(req, "owner")
    elif op == "publish":
        cmd = {"op": op, "topic": _need_str(req, "topic"), "message": req.get("message")}
    elif op == "get":
        cmd = {"op": op, "key": _need_str(req, "key")}
    elif op == "lookup":
        cmd = {"op": op, "name": _need_str(req, "name")}
    else:
        raise BadCommand(f"unknown op {op!r}")
    if rid is not None and op in WRITE_OPS:
        cmd["rid"] = rid
    return cmd


@dataclass
class Event:
    """A published message, delivered by each node to its local subscribers."""

    seq: int
    topic: str
    message: Any


def topic_matches(pattern: str, topic: str) -> bool:
    """Shell-style topic patterns: ``orders.*`` matches ``orders.created``."""
    return fnmatch.fnmatchcase(topic, pattern)


@dataclass
class StateMachine:
    """KV data, registry and event counter, as applied from the log."""

    kv: dict[str, Any] = field(default_factory=dict)
    registry: dict[str, str] = field(default_factory=dict)
    event_seq: int = 0
    applied_index: int = 0
    _recent: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)

    def apply(self, index: int, cmd: dict[str, Any]) -> tuple[dict[str, Any], Event | None]:
        """Apply the command committed at ``index``; returns its result and any event to deliver."""
        self.applied_index = index
        rid = cmd.get("rid")
        if rid is not None and rid in self._recent:
            return self._recent[rid], None
        result, event = self._apply(cmd)
        if rid is not None:
            self._recent[rid] = result
            if len(self._recent) > DEDUP_WINDOW:
                self._recent.popitem(last=False)
        return result, event

    def _apply(self, cmd: dict[str, Any]) -> tuple[dict[str, Any], Event | None]:
        op = cmd.get("op")
        if op == "put":
            self.kv[cmd["key"]] = cmd["value"]
            return {"ok": True}, None
        if op == "cas":
            current = self.kv.get(cmd["key"])
            if current != cmd["expected"]:
                return {"ok": True, "swapped": False, "value": current}, None
            self.kv[cmd["key"]] = cmd["value"]
            return {"ok": True, "swapped": True, "value": cmd["value"]}, None
        if op == "delete":
            existed = self.kv.pop(cmd["key"], None) is not None
            return {"ok": True, "existed": existed}, None
        if op == "register":
            owner = self.registry.get(cmd["name"])
            if owner is not None and owner != cmd["owner"]:
                return {"ok": True, "registered": False, "owner": owner}, None
            self.registry[cmd["name"]] = cmd["owner"]
            return {"ok": True, "registered": True, "owner": cmd["owner"]}, None
        if op == "unregister":
            owner = self.registry.get(cmd["name"])
            if owner is None or ("owner" in cmd and owner != cmd["owner"]):
                return {"ok": True, "removed": False, "owner": owner}, None
            del self.registry[cmd["name"]]
            return {"ok": True, "removed": True, "owner": owner}, None
        if op == "publish":
            self.event_seq += 1
            event = Event(self.event_seq, cmd["topic"], cmd.get("message"))
            return {"ok": True, "seq": event.seq}, event
        # A no-op entry (a new leader's first entry) or a command from a newer
        # version: applying nothing keeps every replica identical either way.
        return {"ok": True}, None

    def read(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Answer a read-only command from the applied state."""
        if cmd["op"] == "get":
            return {"ok": True, "value": self.kv.get(cmd["key"])}
        if cmd["op"] == "lookup":
            return {"ok": True, "owner": self.registry.get(cmd["name"])}
        raise BadCommand(f"not a read: {cmd['op']!r}")

    def preview(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """The result ``cmd`` would have if applied now, leaving the state untouched.

        Only the ``lost-ack`` planted bug uses it (to answer before the commit);
        it copies the state, so it costs O(state) per call.
        """
        scratch = StateMachine(
            kv=dict(self.kv), registry=dict(self.registry), event_seq=self.event_seq
        )
        return scratch._apply(cmd)[0]

    def register_local(self, name: str, owner: str) -> None:
        """Apply a registration outside the log (only the ``registry-no-sync`` bug does this)."""
        self.registry[name] = owner

    def snapshot(self) -> dict[str, Any]:
        """The whole state as one JSON-able dict (for log compaction)."""
        return {
            "kv": self.kv,
            "registry": self.registry,
            "event_seq": self.event_seq,
            "applied_index": self.applied_index,
            "recent": list(self._recent.items()),
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> StateMachine:
        """Rebuild a state machine from ``snapshot()`` output."""
        sm = cls(
            kv=dict(data.get("kv", {})),
            registry=dict(data.get("registry", {})),
            event_seq=int(data.get("event_seq", 0)),
            applied_index=int(data.get("applied_index", 0)),
        )
        sm._recent = OrderedDict((rid, res) for rid, res in data.get("recent", []))
        return sm
