"""Client library for the reference KV nodes (asyncio), for tests and workloads.

    client = Client({"n1": ("127.0.0.1", 7001), "n2": ..., "n3": ...})
    result = await client.put("x", 1)      # Result(outcome="ok" | "fail" | "info", ...)
    await client.close()

Every call has one deadline (``timeout``). Inside it the client finds the
leader (each reply names it), retries with exponential backoff and jitter on
another node when one is down or leaderless, and gives up when the deadline
passes. The outcome follows Jepsen's model:

* ``ok``   -- it happened (``value`` holds the answer);
* ``fail`` -- it certainly did not happen (refused before it was proposed);
* ``info`` -- unknown: a write was sent and no answer came back in time, or
  the node lost leadership while it was in flight. It may still commit, so it
  is never reported as failed.

Writes carry a request id that the state machine remembers, so a retry of a
write whose first attempt did commit is answered, not applied twice; that is
what makes retrying a write after an unknown outcome safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from reference_system import codec

Address = tuple[str, int]

#: Error codes that mean "this attempt was not applied and will not be".
DEFINITE_ERRORS = frozenset({"not_leader", "no_leader", "unavailable", "bad_request", "too_large"})
#: Error codes that no retry can fix.
FINAL_ERRORS = frozenset({"bad_request", "too_large"})
READ_OPS = frozenset({"get", "lookup", "status", "trace"})


class ConnectionLost(Exception):
    """The connection closed (or could not be opened) before an answer came."""


@dataclass
class Result:
    """What happened to one operation (Jepsen's ok / fail / info)."""

    outcome: str
    reply: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    node: str | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        """True when the operation certainly happened."""
        return self.outcome == "ok"

    @property
    def value(self) -> Any:
        """The answer's ``value`` (a read's value; a cas's current value)."""
        return self.reply.get("value")


class NodeConnection:
    """One pipelined TCP connection to one node: many requests in flight, matched by id."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.pushes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed = False
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    @classmethod
    async def open(cls, address: Address, timeout: float) -> NodeConnection:
        """Connect to ``address``; ``ConnectionLost`` if that fails within ``timeout``."""
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout)
        except (TimeoutError, OSError) as exc:
            raise ConnectionLost(f"cannot connect to {address[0]}:{address[1]}: {exc}") from None
        return cls(reader, writer)

    def send(self, request: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        """Send ``request`` (an ``id`` is added) and return a future for its reply."""
        # The peer may have closed the socket before the read loop noticed:
        # then the transport is already closing, and uvloop's write raises
        # RuntimeError ("handler is closed"). Nothing was sent, so the caller
        # may safely try another node.
        if self.closed or self._writer.is_closing():
            if not self.closed:
                self._fail_all()
            raise ConnectionLost("connection is closed")
        rid = next(self._ids)
        frame = codec.encode({**request, "tag": rid}, codec.MAX_CLIENT_FRAME)
        try:
            self._writer.write(frame)
        except (RuntimeError, OSError) as exc:
            self._fail_all()
            raise ConnectionLost(f"connection is closed: {exc}") from None
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        return fut

    async def _read_loop(self) -> None:
        try:
            while True:
                msg = await codec.read_frame(self._reader, codec.MAX_CLIENT_FRAME)
                tag = msg.get("tag")
                fut = self._waiting.pop(tag, None) if isinstance(tag, int) else None
                if fut is not None:
                    if not fut.done():
                        fut.set_result(msg)
                elif "push" in msg:
                    self.pushes.put_nowait(msg)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, codec.FrameError):
            pass
        finally:
            self._fail_all()

    def _fail_all(self) -> None:
        self.closed = True
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(ConnectionLost("connection closed before the reply"))
        self._waiting.clear()
        self.pushes.put_nowait({"push": "closed"})

    async def close(self) -> None:
        """Close the connection; waiting calls see ``ConnectionLost``."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._fail_all()
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


class Client:
    """Talks to a cluster of reference nodes; see the module docstring."""

    def __init__(
        self,
        nodes: Mapping[str, Address],
        *,
        timeout: float = 2.0,
        attempt_timeout: float = 1.0,
        backoff: float = 0.02,
        max_backoff: float = 0.3,
        seed: int = 0,
        trace_id: str | None = None,
        baggage: Mapping[str, str] | None = None,
        client_id: str | None = None,
        follow_leader: bool = True,
    ) -> None:
        if not nodes:
            raise ValueError("a client needs at least one node address")
        self.nodes = dict(nodes)
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.trace_id = trace_id
        self.baggage = dict(baggage or {})
        self.follow_leader = follow_leader
        self.client_id = client_id or uuid.uuid4().hex[:12]
        self._rng = random.Random(seed)
        self._seq = itertools.count(1)
        self._conns: dict[str, NodeConnection] = {}
        self._connecting: dict[str, asyncio.Lock] = {}
        self._order = list(self.nodes)
        self.leader: str | None = None

    # -- the operations ---------------------------------------------------

    async def put(self, key: str, value: Any, **kw: Any) -> Result:
        """Set ``key`` to ``value``."""
        return await self.call({"op": "put", "key": key, "value": value}, **kw)

    async def get(self, key: str, **kw: Any) -> Result:
        """Linearizable read of ``key`` (``value`` is None when absent)."""
        return await self.call({"op": "get", "key": key}, **kw)

    async def cas(self, key: str, expected: Any, value: Any, **kw: Any) -> Result:
        """Set ``key`` to ``value`` if it holds ``expected``; ``reply["swapped"]`` says whether."""
        return await self.call(
            {"op": "cas", "key": key, "expected": expected, "value": value}, **kw
        )

    async def delete(self, key: str, **kw: Any) -> Result:
        """Remove ``key``."""
        return await self.call({"op": "delete", "key": key}, **kw)

    async def register(self, name: str, owner: str, **kw: Any) -> Result:
        """Register ``name`` to ``owner`` (``reply["registered"]`` is False if someone else has it)."""
        return await self.call({"op": "register", "name": name, "owner": owner}, **kw)

    async def lookup(self, name: str, **kw: Any) -> Result:
        """Who owns ``name`` (``reply["owner"]``, None if nobody)."""
        return await self.call({"op": "lookup", "name": name}, **kw)

    async def unregister(self, name: str, owner: str | None = None, **kw: Any) -> Result:
        """Drop ``name`` (only if ``owner`` holds it, when given)."""
        return await self.call({"op": "unregister", "name": name, "owner": owner}, **kw)

    async def publish(self, topic: str, message: Any, **kw: Any) -> Result:
        """Publish ``message`` on ``topic`` to subscribers on every node."""
        return await self.call({"op": "publish", "topic": topic, "message": message}, **kw)

    async def status(self, node: str, timeout: float | None = None) -> dict[str, Any]:
        """The node's own view: id, role, term, leader, commit index, operational, quorum."""
        reply = await self._once(node, {"op": "status"}, timeout or self.attempt_timeout)
        return reply

    async def local_get(self, node: str, key: str, timeout: float | None = None) -> dict[str, Any]:
        """``node``'s own applied value of ``key`` (a serializable read: may be stale)."""
        return await self._once(
            node, {"op": "get", "key": key, "local": True}, timeout or self.attempt_timeout
        )

    async def registry(self, node: str, timeout: float | None = None) -> dict[str, Any]:
        """``node``'s own applied registry (``reply["registry"]``: name -> owner)."""
        return await self._once(node, {"op": "registry"}, timeout or self.attempt_timeout)

    async def trace(
        self, node: str, route: list[str], timeout: float | None = None
    ) -> dict[str, Any]:
        """Send a trace probe to ``node`` that hops along ``route`` (node ids); returns the last hop's view."""
        return await self._once(
            node, {"op": "trace", "route": list(route)}, timeout or self.timeout
        )

    async def subscribe(self, node: str, pattern: str) -> Subscription:
        """Subscribe on ``node`` to topics matching ``pattern`` (shell-style, e.g. ``orders.*``)."""
        conn = await NodeConnection.open(self.nodes[node], self.attempt_timeout)
        reply = await asyncio.wait_for(
            conn.send({"op": "subscribe", "pattern": pattern, "ctx": self._ctx()}),
            self.attempt_timeout,
        )
        if not reply.get("ok"):
            await conn.close()
            raise ConnectionLost(f"subscribe on {node} refused: {reply.get('message')}")
        return Subscription(conn)

    # -- retries ------------------------------------------------------------

    async def call(
        self, request: dict[str, Any], *, node: str | None = None, timeout: float | None = None
    ) -> Result:
        """Run one request with leader discovery and retries until ``timeout`` (see module doc)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout if timeout is not None else self.timeout)
        is_read = request["op"] in READ_OPS
        if not is_read:
            request = {**request, "rid": f"{self.client_id}-{next(self._seq)}"}
        maybe_applied = False
        last_error = "timeout"
        last_node: str | None = None
        attempt = 0
        target = node
        while True:
            attempt += 1
            target = target or self._pick()
            last_node = target
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                reply = await self._once(target, request, min(remaining, self.attempt_timeout))
            except ConnectionLost as exc:
                # A connection that broke after sending may have delivered it.
                maybe_applied |= getattr(exc, "sent", False) and not is_read
                last_error = "connection_lost"
                self._forget_leader(target)
            except TimeoutError:
                maybe_applied |= not is_read
                last_error = "timeout"
                self._forget_leader(target)
            else:
                self._learn_leader(reply)
                if reply.get("ok"):
                    return Result("ok", reply, None, target, attempt)
                last_error = str(reply.get("error", "error"))
                if last_error in FINAL_ERRORS:
                    return Result("fail", reply, last_error, target, attempt)
                if last_error not in DEFINITE_ERRORS:
                    maybe_applied |= not is_read
                if last_error != "not_leader" or self.leader is None:
                    self._forget_leader(target)
            target = node if node is not None else None
            pause = min(self.max_backoff, self.backoff * 2 ** min(attempt - 1, 8))
            pause *= 0.5 + self._rng.random()
            if loop.time() + pause >= deadline:
                break
            await asyncio.sleep(pause)
        outcome = "info" if maybe_applied else "fail"
        return Result(outcome, {}, last_error, last_node, attempt)

    async def _once(self, node: str, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        conn = await self._connection(node, timeout)
        fut = conn.send({**request, "ctx": self._ctx()})
        # A timer instead of wait_for: wait_for costs a task per call, and the
        # client is often the load generator sharing the CPU with the nodes.
        timer = asyncio.get_running_loop().call_later(timeout, _expire, fut)
        try:
            return await fut
        except ConnectionLost as exc:
            exc.sent = True  # type: ignore[attr-defined]
            raise
        finally:
            timer.cancel()

    async def _connection(self, node: str, timeout: float) -> NodeConnection:
        conn = self._conns.get(node)
        if conn is not None and not conn.closed:
            return conn
        # Calls that start together share one connect instead of racing to open several.
        lock = self._connecting.setdefault(node, asyncio.Lock())
        async with lock:
            conn = self._conns.get(node)
            if conn is None or conn.closed:
                conn = await NodeConnection.open(self.nodes[node], timeout)
                self._conns[node] = conn
            return conn

    def _ctx(self) -> dict[str, Any]:
        trace_id = self.trace_id or uuid.uuid4().hex
        return {"trace_id": trace_id, "baggage": self.baggage, "hops": 0}

    def _pick(self) -> str:
        if self.follow_leader and self.leader in self.nodes:
            return self.leader
        # Round-robin from a seeded start, so a dead node is not retried first every time.
        self._order.append(self._order.pop(0))
        return self._order[0]

    def _learn_leader(self, reply: dict[str, Any]) -> None:
        leader = reply.get("leader")
        if isinstance(leader, str) and leader in self.nodes:
            self.leader = leader

    def _forget_leader(self, node: str) -> None:
        if self.leader == node:
            self.leader = None

    async def close(self) -> None:
        """Close every connection."""
        conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            await conn.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _expire(fut: asyncio.Future[dict[str, Any]]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class Subscription:
    """Events pushed by one node for one pattern; iterate or ``next(timeout)``."""

    def __init__(self, conn: NodeConnection) -> None:
        self._conn = conn

    async def next(self, timeout: float) -> dict[str, Any]:
        """The next event (``topic``, ``message``, ``seq``, ``node``); ``TimeoutError`` if none in time."""
        msg = await asyncio.wait_for(self._conn.pushes.get(), timeout)
        if msg.get("push") == "closed":
            raise ConnectionLost("subscription connection closed")
        return msg

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            msg = await self._conn.pushes.get()
            if msg.get("push") == "closed":
                return
            yield msg

    async def close(self) -> None:
        """End the subscription."""
        await self._conn.close()
