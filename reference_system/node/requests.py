"""How a node answers requests: KV and registry commands, reads, forwarding, trace hops, status.

A mixin of ``Node`` (``node.py``), kept apart so each module stays readable:
this one decides *what* to do with a request; ``node.py`` owns the Raft core
and the ready loop that carry it out.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import TYPE_CHECKING, Any

from reference_system import codec
from reference_system.node.context import TraceContext
from reference_system.raft import RaftNode, Role
from reference_system.statemachine import READ_OPS, BadCommand, StateMachine, parse_command

if TYPE_CHECKING:
    from reference_system.node.options import NodeOptions
    from reference_system.node.peers import PeerLink

Reply = dict[str, Any]
MAX_ROUTE = 16


def error(code: str, message: str = "") -> Reply:
    """An error reply. Codes: see docs/reference-node.md ("Replies")."""
    return {"ok": False, "error": code, "message": message or code.replace("_", " ")}


#: one encoder for every proposal (``json.dumps`` with options builds a new one per call)
_command_encoder = json.JSONEncoder(separators=(",", ":"))


def resolve(fut: asyncio.Future[Reply], reply: Reply) -> None:
    """Answer a waiter unless it was answered already (by a timeout, say)."""
    if not fut.done():
        fut.set_result(reply)


class RequestPaths:
    """The request side of ``Node``: these attributes are set by ``Node.__init__``."""

    id: str
    opts: NodeOptions
    bugs: frozenset[str]
    core: RaftNode
    sm: StateMachine
    links: dict[str, PeerLink]
    _proposals: list[tuple[bytes, asyncio.Future[Reply]]]
    _reads: list[tuple[dict[str, Any], asyncio.Future[Reply]]]
    _forwards: dict[int, asyncio.Future[Reply]]
    _forward_ids: itertools.count[int]
    _heard: dict[str, float]

    def kick(self) -> None:  # pragma: no cover - Node defines it
        raise NotImplementedError

    def _waiter(self, on_timeout: Reply) -> asyncio.Future[Reply]:  # pragma: no cover
        raise NotImplementedError

    def base(self, ctx: TraceContext) -> Reply:
        """Fields on every reply: who answered, who leads, the trace as seen here."""
        return {
            "node": self.id,
            "leader": self.core.leader,
            "trace_id": ctx.trace_id,
            "hops": ctx.hops,
        }

    async def execute(
        self, req: dict[str, Any], ctx: TraceContext, *, forwarded: bool = False
    ) -> Reply:
        """Answer one request (from a client, or forwarded by a peer)."""
        op = req.get("op")
        if op == "status":
            return {**self.status(), **self.base(ctx)}
        if op == "trace":
            return {**self.base(ctx), **await self._trace(req, ctx)}
        if op == "registry":
            return {
                "ok": True,
                "registry": dict(self.sm.registry),
                "applied": self.sm.applied_index,
                **self.base(ctx),
            }
        try:
            cmd = parse_command(req)
        except BadCommand as exc:
            return {**error("bad_request", str(exc)), **self.base(ctx)}
        if cmd["op"] in READ_OPS and req.get("local") is True:
            # A serializable read (etcd's term): this node's applied state, possibly
            # stale, answered without asking anyone -- what tests use to see replication.
            return {**self.base(ctx), **self.sm.read(cmd), "applied": self.sm.applied_index}
        reply = await self._run(cmd, ctx, forwarded)
        return {**self.base(ctx), **reply}

    def execute_now(self, req: dict[str, Any]) -> asyncio.Future[Reply] | None:
        """The common case of ``execute`` without a task: a well-formed KV or
        registry command on the leader becomes a queued proposal or read, and
        the returned future gets the reply (without ``base``). None: anything
        else, which the caller hands to ``execute``.

        (A task per request was a large share of the leader's CPU per write.)
        """
        if self.core.role is not Role.LEADER or req.get("local") is True or self.bugs:
            return None
        if req.get("op") in ("status", "trace", "registry"):
            return None
        try:
            cmd = parse_command(req)
        except BadCommand:
            return None  # execute answers it
        return self._read_waiter(cmd) if cmd["op"] in READ_OPS else self._propose_waiter(cmd)

    async def _run(self, cmd: dict[str, Any], ctx: TraceContext, forwarded: bool) -> Reply:
        op = cmd["op"]
        if "registry-no-sync" in self.bugs and op in ("register", "lookup"):
            return self._registry_gossip(cmd)
        leader = self.core.leader
        if self.core.role is Role.LEADER:
            return await self._read(cmd) if op in READ_OPS else await self._propose(cmd)
        if op in READ_OPS and "stale-read" in self.bugs:
            return self.sm.read(cmd)
        if forwarded or leader is None or leader not in self.links:
            return self._not_leader(leader)
        return await self.forward(leader, cmd, ctx)

    async def _propose(self, cmd: dict[str, Any]) -> Reply:
        return await self._propose_waiter(cmd)

    def _propose_waiter(self, cmd: dict[str, Any]) -> asyncio.Future[Reply]:
        fut = self._waiter(error("unknown", "not committed in time; the write may still commit"))
        self._proposals.append((_command_encoder.encode(cmd).encode(), fut))
        self.kick()
        return fut

    async def _read(self, cmd: dict[str, Any]) -> Reply:
        return await self._read_waiter(cmd)

    def _read_waiter(self, cmd: dict[str, Any]) -> asyncio.Future[Reply]:
        fut = self._waiter(
            error("timeout", "the read could not be confirmed with a quorum in time")
        )
        self._reads.append((cmd, fut))
        self.kick()
        return fut

    def _not_leader(self, leader: str | None) -> Reply:
        if leader is None or leader == self.id:
            return error("no_leader", f"{self.id} knows no leader right now")
        return {**error("not_leader", f"{self.id} is not the leader"), "leader": leader}

    def _registry_gossip(self, cmd: dict[str, Any]) -> Reply:
        """Planted bug ``registry-no-sync``: the registry as a best-effort broadcast cache."""
        if cmd["op"] == "lookup":
            return {"ok": True, "owner": self.sm.registry.get(cmd["name"])}
        self.sm.register_local(cmd["name"], cmd["owner"])
        frame = codec.encode({"t": "reg", "name": cmd["name"], "owner": cmd["owner"]})
        for link in self.links.values():
            link.send(frame)  # a peer that is unreachable now never hears of it
        return {"ok": True, "registered": True, "owner": cmd["owner"]}

    async def _trace(self, req: dict[str, Any], ctx: TraceContext) -> Reply:
        route = req.get("route", [])
        if (
            not isinstance(route, list)
            or len(route) > MAX_ROUTE
            or not all(isinstance(r, str) for r in route)
        ):
            return error("bad_request", f"'route' must be a list of at most {MAX_ROUTE} node ids")
        if not route:
            return {"ok": True, "path": [self.id], "baggage": ctx.baggage}
        nxt = route[0]
        if nxt not in self.links:
            return error("bad_request", f"route: {nxt!r} is not a peer of {self.id}")
        reply = await self.forward(nxt, {"op": "trace", "route": route[1:]}, ctx)
        if reply.get("ok"):
            reply["path"] = [self.id, *reply.get("path", [])]
            # The answer describes the last hop; keep its trace fields, not ours.
            return {k: v for k, v in reply.items() if k not in ("node", "leader")}
        return reply

    async def forward(self, peer: str, req: dict[str, Any], ctx: TraceContext) -> Reply:
        """Send ``req`` to ``peer`` over the peer link and wait for its answer."""
        fid = next(self._forward_ids)
        code = "timeout" if req.get("op") in (*READ_OPS, "trace") else "unknown"
        if "forward-timeout-fails" in self.bugs:
            # Planted bug: "the leader never answered, so it did not happen" -- but the
            # leader may have committed it and only the answer was slow or lost.
            code = "unavailable"
        fut = self._waiter(error(code, f"no answer from {peer} in time"))
        # Planted bug ``lost-context``: the next node starts a trace of its own.
        wire_ctx = None if "lost-context" in self.bugs else ctx.to_wire()
        frame = {"t": "fwd", "fid": fid, "from": self.id, "req": req, "ctx": wire_ctx}
        if not self.links[peer].send(codec.encode(frame)):
            return error("unavailable", f"{self.id} cannot reach {peer}")
        self._forwards[fid] = fut
        try:
            return await fut
        finally:
            self._forwards.pop(fid, None)

    def status(self) -> Reply:
        """This node's view of the cluster."""
        st = self.core.status()
        return {
            "ok": True,
            "id": st.id,
            "role": str(st.role),
            "term": st.term,
            "leader": st.leader,
            "commit": st.commit,
            "applied": self.sm.applied_index,
            "last_index": st.last_index,
            "quorum": st.quorum,
            "operational": st.quorum and st.leader is not None,
            "peers": {p: link.connected for p, link in self.links.items()},
            "links": self._link_report(),
            "bugs": sorted(self.bugs),
        }

    def _link_report(self) -> dict[str, dict[str, Any]]:
        now = asyncio.get_running_loop().time()
        return {
            p: {
                "connected": link.connected,
                "answered_s_ago": round(now - self._heard.get(p, now), 3),
                "dropped": link.dropped,
                "redials": link.redials,
                "failures": link.failures,
                "last_error": link.last_error,
                "welcomed": link.welcomed,
                "miswired": link.miswired,
            }
            for p, link in self.links.items()
        }
