"""The workload client of the example: a Redis set, through redis-py.

One client is one Jepsen process (distlab.workload.Client). Two ops:

- ``add`` value: ``SADD items value``; ok when Redis answers, fail when it
  refuses (READONLY from a demoted primary, NOREPLICAS under
  min-replicas-to-write: the command was not applied), unknown otherwise.
- ``read``: ``SMEMBERS items``, ok with the sorted members.

Where a client sends its ops: bound to one member (``bind = "member"``: the
slot's member for the whole run), or following the primary, asked from the
sentinels before every op. Sentinel answers with the primary's *advertised*
address (its ingress proxy); the cluster's address book turns that into the
member's id, and the client dials the member's client proxy instead, so a
partition between members never cuts a client off.
"""

from __future__ import annotations

from typing import Any

import redis

from distlab.workload import Client, ClientSlot, Completion, Operation

SET_KEY = "items"
MASTER = "primary"  # the name node.sh gives the monitored primary


def primary_of(cluster: Any, timeout_s: float = 0.5) -> str | None:
    """The member the first sentinel that answers calls primary, or None."""
    book = cluster.address_book()
    for sentinel in cluster.group("sentinel"):
        host, port = cluster.client_address(sentinel)
        conn = redis.Redis(host, port, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        try:
            answer = conn.execute_command("SENTINEL", "get-master-addr-by-name", MASTER)
        except redis.RedisError:
            continue
        finally:
            conn.close()
        if answer:
            return book.get(answer[1].decode())
    return None


def role_of(cluster: Any, node_id: str) -> str | None:
    """A role probe for distlab's nemesis: "leader" for a Redis primary, "follower" for a replica."""
    if node_id not in cluster.group("redis"):
        return None
    host, port = cluster.client_address(node_id)
    conn = redis.Redis(host, port, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        role = conn.execute_command("ROLE")[0]
    finally:
        conn.close()
    return "leader" if role in (b"master", "master") else "follower"


class SetClient(Client):
    """SADD / SMEMBERS on one member (bound) or on whoever the sentinels call primary."""

    def __init__(self, cluster: Any, slot: ClientSlot) -> None:
        self.cluster = cluster
        self.member = slot.member
        self.conns: dict[str, redis.Redis] = {}

    def _conn(self, node_id: str, timeout_s: float) -> redis.Redis:
        conn = self.conns.get(node_id)
        if conn is None:
            host, port = self.cluster.client_address(node_id)
            conn = redis.Redis(
                host, port, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
            )
            self.conns[node_id] = conn
        return conn

    def invoke(self, op: Operation, timeout_s: float) -> Completion:
        node = self.member or primary_of(self.cluster)
        if node is None:
            return Completion.fail("no sentinel named a primary")  # nothing was sent
        conn = self._conn(node, timeout_s)
        try:
            if op.f == "add":
                conn.sadd(SET_KEY, op.value)
                return Completion.ok()
            if op.f == "read":
                members = conn.smembers(SET_KEY)
                return Completion.ok(sorted(int(m) for m in members))
        except redis.ConnectionError as e:
            if "Connection refused" in str(e):
                return Completion.fail(f"{node}: {e}")  # never connected, nothing sent
            raise  # the command may have been applied: unknown (info)
        except redis.ResponseError as e:
            # READONLY, NOREPLICAS, ...: Redis refused the command without applying it.
            return Completion.fail(f"{node}: {e}")
        return Completion.fail(f"unknown op {op.f!r}")

    def close(self) -> None:
        for conn in list(self.conns.values()):
            try:
                conn.close()
            except Exception:
                pass  # a broken connection may fail to close; it is dropped either way
