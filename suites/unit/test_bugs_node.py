"""Each planted bug of the KV node changes its behaviour (one node in-process, no sockets).

The node under test is built from real parts (core, storage in a temp dir,
state machine); its peers are never dialled, so it is cut off from them, and
peer messages are stepped in by hand where a test needs a leader.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from reference_system import codec
from reference_system.node.context import TraceContext
from reference_system.node.node import Node
from reference_system.node.options import NodeOptions, OptionsError, parse
from reference_system.raft import Message, MessageType
from reference_system.storage import Storage

pytestmark = pytest.mark.unit


class RecordingLink:
    """Stands in for a peer link: keeps what would have been sent."""

    connected = True

    def __init__(self) -> None:
        self.frames: list[dict] = []

    def send(self, frame: bytes) -> bool:
        self.frames += codec.FrameDecoder().feed(frame)
        return True

    async def close(self) -> None:
        pass


def options(tmp_path, *bugs: str, peers=("n2", "n3")) -> NodeOptions:
    return NodeOptions(
        id="n1",
        port=1,
        peer_port=2,
        peers={p: ("127.0.0.1", 9) for p in peers},
        data_dir=tmp_path / "n1",
        request_timeout_s=0.3,
        # Elections only when a test asks: a busy machine must not depose a test's leader.
        election_ticks=1000,
        heartbeat_ticks=100,
        bugs=frozenset(bugs),
    )


async def running(opts: NodeOptions) -> tuple[Node, asyncio.Future]:
    node = Node(opts, seed=1)
    for peer in node.links:
        node.links[peer] = RecordingLink()  # type: ignore[assignment]
    loops = asyncio.gather(node.ready_loop(), node.tick_loop())
    return node, loops


def win_election(node: Node) -> None:
    """Make ``node`` leader with n2's votes, stepped in as if they came over the wire."""
    node.core.campaign()
    node.core.step(Message(MessageType.PRE_VOTE_RESP, "n2", "n1", node.core.term + 1))
    node.core.step(Message(MessageType.VOTE_RESP, "n2", "n1", node.core.term))
    assert node.core.status().role == "leader"
    node.kick()


async def stop(node: Node, task: asyncio.Future) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    node.storage.close()


def ctx() -> TraceContext:
    return TraceContext("t-1", 1, {"k": "v"})


@pytest.mark.parametrize("bug, answered", [(None, False), ("stale-read", True)])
def test_stale_read_lets_a_leaderless_follower_answer_from_local_state(tmp_path, bug, answered):
    async def scenario():
        node, task = await running(options(tmp_path, *([bug] if bug else [])))
        node.sm.apply(1, {"op": "put", "key": "x", "value": "old"})
        reply = await node.execute({"op": "get", "key": "x"}, ctx())
        await stop(node, task)
        return reply

    reply = asyncio.run(scenario())
    assert (reply.get("ok") is True and reply.get("value") == "old") is answered
    if not answered:
        assert reply["error"] == "no_leader"


@pytest.mark.parametrize("bug, acked", [(None, False), ("lost-ack", True)])
def test_lost_ack_acknowledges_a_write_no_follower_has(tmp_path, bug, acked):
    async def scenario():
        node, task = await running(options(tmp_path, *([bug] if bug else [])))
        win_election(node)
        reply = await node.execute({"op": "put", "key": "x", "value": 1}, ctx())
        commit = node.core.status().commit
        await stop(node, task)
        return reply, commit

    reply, commit = asyncio.run(scenario())
    assert commit == 0  # nobody else has the entry: it is not committed either way
    assert (reply["ok"] is True) is acked
    if not acked:
        assert reply["error"] == "unknown"  # timed out after proposing: outcome unknown


@pytest.mark.parametrize("bug, survives", [(None, True), ("no-fsync", False)])
def test_no_fsync_forgets_the_log_on_restart(tmp_path, bug, survives):
    async def scenario():
        node, task = await running(options(tmp_path, *([bug] if bug else []), peers=()))
        node.core.campaign()
        node.kick()
        reply = await node.execute({"op": "put", "key": "x", "value": 1}, ctx())
        await stop(node, task)
        return reply

    assert asyncio.run(scenario())["ok"]
    durable = Storage(tmp_path / "n1").load()
    writes = [e for e in durable.entries if e.data and json.loads(e.data).get("key") == "x"]
    assert bool(writes) is survives
    assert (durable.hard_state.term > 0) is survives


@pytest.mark.parametrize("bug", [None, "lost-context"])
def test_lost_context_drops_the_trace_on_node_to_node_calls(tmp_path, bug):
    async def scenario():
        node, task = await running(options(tmp_path, *([bug] if bug else [])))
        call = asyncio.ensure_future(node.forward("n2", {"op": "trace", "route": []}, ctx()))
        await asyncio.sleep(0)
        (frame,) = node.links["n2"].frames
        node.on_peer_frame({"t": "rep", "fid": frame["fid"], "reply": {"ok": True}})
        assert (await call)["ok"]
        await stop(node, task)
        return frame

    frame = asyncio.run(scenario())
    if bug:
        assert frame["ctx"] is None
    else:
        assert frame["ctx"] == {"trace_id": "t-1", "hops": 1, "baggage": {"k": "v"}}


@pytest.mark.parametrize("bug, registered", [(None, False), ("registry-no-sync", True)])
def test_registry_no_sync_registers_outside_the_log(tmp_path, bug, registered):
    async def scenario():
        node, task = await running(options(tmp_path, *([bug] if bug else [])))
        reply = await node.execute({"op": "register", "name": "svc", "owner": "a"}, ctx())
        pushed = node.links["n2"].frames
        await stop(node, task)
        return reply, pushed, node.core.status().last_index

    reply, pushed, last_index = asyncio.run(scenario())
    assert (reply.get("registered") is True) is registered
    assert last_index == 0  # with or without the bug, nothing reached the log
    assert bool(pushed) is registered  # the bug's best-effort broadcast


@pytest.mark.parametrize("bug", [None, "split-brain"])
def test_split_brain_reaches_the_core(tmp_path, bug):
    node = Node(options(tmp_path, *([bug] if bug else [])), seed=1)
    assert node.core.cfg.split_brain is (bug is not None)
    node.storage.close()


def test_an_unknown_bug_name_is_a_one_line_usage_error():
    argv = ["--id", "n1", "--port", "7001", "--peer-port", "7002", "--data-dir", "/tmp/x"]
    with pytest.raises(OptionsError, match=r"unknown bug 'typo'; known: .*stale-read"):
        parse(argv, "stale-read,typo")
    assert parse(argv, "stale-read, lost-ack").bugs == {"stale-read", "lost-ack"}


def test_options_reject_bad_values_with_one_line_each():
    base = ["--id", "n1", "--port", "7001", "--peer-port", "7002", "--data-dir", "/tmp/x"]
    cases = {
        "--port must be a port number": ["--port", "99999"],
        "--peers: bad entry 'n2'": ["--peers", "n2"],
        "--id must be": ["--id", "bad id"],
        "--port and --peer-port must differ": ["--peer-port", "7001"],
    }
    for message, change in cases.items():
        argv = list(base)
        flag_at = argv.index(change[0]) if change[0] in argv else None
        if flag_at is None:
            argv += change
        else:
            argv[flag_at + 1] = change[1]
        with pytest.raises(OptionsError, match=message) as info:
            parse(argv, "")
        assert "\n" not in str(info.value)
    assert parse(base, "").peers == {}
