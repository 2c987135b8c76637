"""The runner's event listener over real Unix sockets."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

from distlab.events import (
    Event,
    EventSink,
    LayerEnd,
    Metric,
    RunEnd,
    RunStart,
    TestStart,
    read_events,
)
from distlab.runner.listener import EventListener


def _connect(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(address.removeprefix("unix:"))
    return sock


def test_events_from_many_writers_reach_file_and_callback_in_the_same_order(
    tmp_path: Path,
) -> None:
    seen: list[Event] = []
    listener = EventListener(tmp_path / "events.jsonl", seen.append)
    address = listener.open_endpoint("chaos")
    per_writer = 500

    def writer(n: int) -> None:
        sink = EventSink(address)
        for i in range(per_writer):
            sink.write(TestStart(ts=0.0, nodeid=f"{n}:{i}"))
        sink.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    listener.close_endpoint(address)
    listener.publish(LayerEnd(layer="chaos", outcome="passed"))
    listener.close()
    on_disk = list(read_events(tmp_path / "events.jsonl"))
    assert on_disk == seen
    assert len(seen) == 4 * per_writer + 1
    # Each writer's events keep their order; every event is tagged with the layer.
    for n in range(4):
        mine = [e.nodeid for e in seen if isinstance(e, TestStart) and e.nodeid.startswith(f"{n}:")]
        assert mine == [f"{n}:{i}" for i in range(per_writer)]
    # The writers did not know their layer: the endpoint tagged each event with it.
    assert all(isinstance(e, TestStart | LayerEnd) and e.layer == "chaos" for e in seen)


def test_a_torn_line_and_garbage_are_dropped_and_an_own_layer_kept(tmp_path: Path) -> None:
    seen: list[Event] = []
    listener = EventListener(tmp_path / "events.jsonl", seen.append)
    address = listener.open_endpoint("unit")
    sock = _connect(address)
    good = {"v": 1, "ts": 1.0, "kind": "metric", "layer": "performance", "value": 3}
    sock.sendall(b"not json\n" + json.dumps(good).encode() + b'\n[1,2]\n{"kind": "log", "mess')
    sock.close()  # the writer died mid-line
    listener.close_endpoint(address)
    listener.close()
    assert seen == [Metric(ts=1.0, layer="performance", value=3.0)]


def test_a_connection_still_in_the_backlog_is_drained_on_close(tmp_path: Path) -> None:
    seen: list[Event] = []
    listener = EventListener(tmp_path / "events.jsonl", seen.append)
    address = listener.open_endpoint("unit")
    # Connect, write and hang up at once: close_endpoint must still take it.
    sock = _connect(address)
    sock.sendall(b'{"v": 1, "ts": 0, "kind": "test.start", "nodeid": "t.py::a"}\n')
    sock.close()
    listener.close_endpoint(address)
    listener.close()
    assert seen == [TestStart(ts=0, layer="unit", nodeid="t.py::a")]


def test_a_callback_that_raises_does_not_lose_events_on_disk(tmp_path: Path) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("view crashed")

    listener = EventListener(tmp_path / "events.jsonl", broken)
    listener.publish(RunStart(seed=1))
    listener.publish(RunEnd(verdict="pass"))
    listener.close()
    assert [e.kind for e in read_events(tmp_path / "events.jsonl")] == ["run.start", "run.end"]
    assert listener.callback_errors == 2
