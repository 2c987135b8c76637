"""Malformed, truncated and oversized frames, unknown commands and wrong types against a live node.

The node must answer with an error (keeping the connection while framing is
intact, closing it cleanly when not) and never crash.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct

import pytest

from reference_system import codec

pytestmark = [pytest.mark.concurrency, pytest.mark.cluster(nodes=1)]


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def exchange(addr, data: bytes, replies: int, timeout: float = 5.0) -> tuple[list[dict], bool]:
    """Send raw bytes, read ``replies`` frames; also say whether the node then closed the connection."""
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(data)
        decoder = codec.FrameDecoder(codec.MAX_CLIENT_FRAME)
        got: list[dict] = []
        closed = False
        while len(got) < replies:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            got += decoder.feed(chunk)
        if not closed:
            s.settimeout(0.3)
            try:
                closed = s.recv(1) == b""
            except TimeoutError:
                closed = False
        return got, closed


def status_frame(tag: int) -> bytes:
    return codec.encode({"op": "status", "tag": tag})


def test_a_payload_that_is_not_json_gets_an_error_and_the_connection_lives_on(cluster, kv):
    kv.leader()
    replies, closed = exchange(cluster.client_address("n1"), frame(b"{nope") + status_frame(1), 2)
    assert replies[0]["error"] == "bad_request"
    assert replies[1]["ok"] and replies[1]["tag"] == 1
    assert not closed


@pytest.mark.parametrize(
    "request_, complaint",
    [
        ({"op": "launch", "tag": 5}, "unknown op"),
        ({"op": "put", "key": 7, "value": 1, "tag": 5}, "'key' must be a non-empty string"),
        ({"op": "put", "key": "k", "tag": 5}, "'value' is required"),
        ({"op": "trace", "route": "n2", "tag": 5}, "'route' must be a list"),
        ({"op": "subscribe", "pattern": 3, "tag": 5}, "'pattern' must be"),
        ({"tag": 5}, "unknown op"),
    ],
)
def test_unknown_commands_and_wrong_types_get_an_error_naming_the_field(
    cluster, kv, request_, complaint
):
    kv.leader()
    replies, closed = exchange(
        cluster.client_address("n1"), codec.encode(request_) + status_frame(6), 2
    )
    assert replies[0]["tag"] == 5 and replies[0]["error"] == "bad_request"
    assert complaint in replies[0]["message"]
    assert replies[1]["ok"] and not closed


def test_an_oversized_frame_gets_an_error_and_a_clean_close(cluster, kv):
    kv.leader()
    header = struct.pack(">I", codec.MAX_CLIENT_FRAME + 1)
    replies, closed = exchange(cluster.client_address("n1"), header + b"x" * 100, 1)
    assert replies[0]["error"] == "too_large"
    assert closed
    assert kv.status("n1")["ok"]


def test_truncated_frames_and_random_garbage_never_bring_the_node_down(cluster, kv):
    kv.leader()
    addr = cluster.client_address("n1")
    rng = random.Random(7)
    whole = codec.encode({"op": "put", "key": "k", "value": "v"})
    blobs = [whole[:n] for n in (1, 3, 4, 10)] + [
        rng.randbytes(rng.randint(1, 300)) for _ in range(30)
    ]

    async def blast():
        async def one(blob: bytes):
            _reader, writer = await asyncio.open_connection(*addr)
            writer.write(blob)
            await writer.drain()
            writer.close()

        await asyncio.gather(*(one(b) for b in blobs))

    kv.run(blast())
    assert cluster["n1"].state == "up"
    assert kv.status("n1")["ok"]
    assert kv.run(kv.client().put("after", 1)).ok
