"""Faults on live connections through one proxied link: partition, one-way cut,
latency, jitter, stall, loss, bandwidth, reset, half-close; state and events."""

from __future__ import annotations

import hashlib
import json
import random
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from socket_helpers import recv_exactly, silent

from distlab import events
from distlab.net import Network


class Upstream:
    """A listening socket standing in for node n2."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.address = self.sock.getsockname()

    def accept(self) -> socket.socket:
        conn, _ = self.sock.accept()
        conn.settimeout(5)
        return conn


@pytest.fixture(params=["process", "in-process"])
def net(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Network]:
    with Network.start(tmp_path, in_process=request.param == "in-process", seed=3) as n:
        yield n


@pytest.fixture
def pair(net: Network) -> Iterator[tuple[socket.socket, socket.socket]]:
    """An open connection n1 -> n2 through its link proxy: (n1's socket, n2's socket)."""
    up = Upstream()
    port = net.add_link("n1", "n2", up.address)
    net.add_link("n2", "n1", ("127.0.0.1", 9))  # n2 -> n1 exists too; never dialled here
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    server = up.accept()
    yield client, server
    client.close()
    server.close()
    up.sock.close()


def test_partition_makes_bytes_vanish_on_an_open_connection(net: Network, pair) -> None:
    client, server = pair
    client.sendall(b"one")
    assert recv_exactly(server, 3) == b"one"
    net.partition([["n1"], ["n2"]])
    client.sendall(b"lost")
    server.sendall(b"gone")
    assert silent(server) and silent(client)  # hangs, no reset: a pulled cable
    net.heal()
    client.sendall(b"two")
    assert recv_exactly(server, 3) == b"two"  # "lost" vanished, it is not delivered late
    server.sendall(b"back")
    assert recv_exactly(client, 4) == b"back"


def test_heal_can_reset_connections_that_lost_bytes(net: Network, pair) -> None:
    client, server = pair
    net.partition([["n1"], ["n2"]])
    client.sendall(b"lost")
    assert silent(server)
    net.heal(reset_gaps=True)
    # As TCP would end it, rather than deliver what follows "lost" as if nothing happened.
    with pytest.raises(ConnectionResetError):
        client.recv(1)


def test_a_connection_that_lost_nothing_survives_a_partition(net: Network, pair) -> None:
    client, server = pair
    net.partition([["n1"], ["n2"]])
    assert silent(client)
    net.heal(reset_gaps=True)
    client.sendall(b"still here")
    assert recv_exactly(server, 10) == b"still here"


def open_pair(net: Network, up: Upstream) -> tuple[socket.socket, socket.socket]:
    client = socket.create_connection(("127.0.0.1", net.port("n1", "n2")), timeout=5)
    return client, up.accept()


def test_one_way_cut_drops_by_direction_inside_one_connection(net: Network) -> None:
    up = Upstream()
    net.add_link("n1", "n2", up.address)
    client, server = open_pair(net, up)
    net.cut("n1", "n2")
    client.sendall(b"a")
    assert silent(server)
    server.sendall(b"b")
    assert recv_exactly(client, 1) == b"b"
    net.heal()
    client.close()
    server.close()

    client, server = open_pair(net, up)
    net.cut("n2", "n1")
    client.sendall(b"c")
    assert recv_exactly(server, 1) == b"c"
    server.sendall(b"d")
    assert silent(client)
    for s in (client, server, up.sock):
        s.close()


def round_trip(client: socket.socket, server: socket.socket) -> float:
    start = time.perf_counter()
    client.sendall(b"p")
    recv_exactly(server, 1)
    server.sendall(b"q")
    recv_exactly(client, 1)
    return time.perf_counter() - start


@pytest.mark.parametrize("net", ["process"], indirect=True)
def test_latency_is_within_20_percent_of_the_asked_value(net: Network, pair) -> None:
    client, server = pair
    base = statistics.median(round_trip(client, server) for _ in range(5))
    net.latency([("n1", "n2")], 100)  # one way only: adds 100 ms to a round trip
    one_way = statistics.median(round_trip(client, server) for _ in range(5)) - base
    assert 0.080 <= one_way <= 0.120, one_way
    net.latency(None, 40)  # every flow, so both ways: 40 + 40 (n1 -> n2 is now 40 too)
    both = statistics.median(round_trip(client, server) for _ in range(5)) - base
    assert 0.064 <= both <= 0.096, both


@pytest.mark.parametrize("net", ["process"], indirect=True)
def test_jitter_spreads_delays_around_the_latency(net: Network, pair) -> None:
    client, server = pair
    net.latency([("n1", "n2")], 60, jitter_ms=30)
    delays = []
    for _ in range(12):
        start = time.perf_counter()
        client.sendall(b"j")
        recv_exactly(server, 1)
        delays.append(time.perf_counter() - start)
    assert min(delays) >= 0.030 * 0.9
    assert max(delays) - min(delays) > 0.010  # not one fixed delay


def test_stall_holds_bytes_and_heal_delivers_them(net: Network, pair) -> None:
    client, server = pair
    net.stall([("n1", "n2")])
    client.sendall(b"held")
    assert silent(server)
    net.heal([("n1", "n2")])
    assert recv_exactly(server, 4) == b"held"


@pytest.mark.parametrize("net", ["process"], indirect=True)
def test_loss_costs_a_retransmission_timeout_not_bytes(net: Network, pair) -> None:
    client, server = pair
    net.loss([("n1", "n2")], 1.0)
    start = time.perf_counter()
    client.sendall(b"resent")
    assert recv_exactly(server, 6) == b"resent"
    assert time.perf_counter() - start >= 0.19


@pytest.mark.parametrize("net", ["process"], indirect=True)
def test_bandwidth_limits_throughput(net: Network, pair) -> None:
    client, server = pair
    net.bandwidth([("n1", "n2")], 40)  # 5000 bytes per second
    start = time.perf_counter()
    client.sendall(b"x" * 2500)
    recv_exactly(server, 2500)
    assert time.perf_counter() - start >= 0.45


def test_reset_kills_live_connections_and_new_ones_connect(net: Network, pair) -> None:
    client, _server = pair
    assert net.reset([("n1", "n2")]) == 1
    with pytest.raises(ConnectionResetError):
        client.recv(1)
    port = net.port("n1", "n2")
    again = socket.create_connection(("127.0.0.1", port), timeout=5)
    again.sendall(b"hi")
    again.close()


def test_reject_partition_resets_live_and_new_connections(net: Network, pair) -> None:
    client, _server = pair
    net.partition([["n1"], ["n2"]], mode="reject")
    with pytest.raises(ConnectionResetError):
        client.recv(1)
    address = ("127.0.0.1", net.port("n1", "n2"))
    # The reset may come at connect or at the first read.
    with pytest.raises(ConnectionResetError), socket.create_connection(address, 5) as fresh:
        fresh.recv(1)


def test_half_close_passes_through(net: Network, pair) -> None:
    client, server = pair
    client.sendall(b"req")
    client.shutdown(socket.SHUT_WR)
    assert recv_exactly(server, 3) == b"req"
    assert server.recv(1) == b""  # the FIN arrived
    server.sendall(b"reply")
    assert recv_exactly(client, 5) == b"reply"


@pytest.mark.parametrize("net", ["in-process"], indirect=True)
def test_state_and_events_say_what_is_cut_or_slowed(
    net: Network, pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "events.jsonl"
    monkeypatch.setattr(events, "_sink", events.EventSink(f"file:{log}"))
    net.latency([("n1", "n2")], 25)
    net.partition_shape("isolate", node="n2")
    state = net.state()
    assert state["faults"]["n1->n2"] == {"partition": "drop", "latency_ms": 25.0}
    assert state["faults"]["n2->n1"] == {"partition": "drop"}
    assert state["partition"]["shape"] == "isolate"
    assert {(p["src"], p["dst"]) for p in state["proxies"]} == {("n1", "n2"), ("n2", "n1")}
    net.heal()
    assert net.state()["faults"] == {} and net.state()["partition"] is None
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = [(e["kind"], e.get("src"), e.get("dst"), e.get("faults")) for e in seen]
    assert kinds[0] == ("link.state", "n1", "n2", {"latency_ms": 25.0})
    partition = next(e for e in seen if e["kind"] == "partition")
    assert partition["cut"] == [["n1", "n2"], ["n2", "n1"]] and partition["mode"] == "drop"
    assert ("link.state", "n1", "n2", {}) in kinds and ("link.state", "n2", "n1", {}) in kinds
    assert all(e["v"] == events.SCHEMA_VERSION and "ts" in e for e in seen)
    # The same lines, typed, as the dashboard reads them.
    typed = [events.decode(e) for e in seen]
    assert events.PartitionChanged in {type(e) for e in typed}


def test_bulk_bytes_arrive_intact_both_ways_under_back_pressure(net: Network, pair) -> None:
    client, server = pair
    rng = random.Random(5)
    up, down = rng.randbytes(12 << 20), rng.randbytes(12 << 20)
    received: dict[str, bytes] = {}

    def read_all(name: str, sock: socket.socket, n: int, piece: int) -> None:
        received[name] = recv_exactly_in(sock, n, piece)

    readers = [
        threading.Thread(target=read_all, args=("at n2", server, len(up), 4096)),
        threading.Thread(target=read_all, args=("at n1", client, len(down), 1 << 20)),
    ]
    for t in readers:
        t.start()
    writer = threading.Thread(target=server.sendall, args=(down,))
    writer.start()
    client.sendall(up)
    writer.join(timeout=60)
    for t in readers:
        t.join(timeout=60)
    assert hashlib.sha256(received["at n2"]).digest() == hashlib.sha256(up).digest()
    assert hashlib.sha256(received["at n1"]).digest() == hashlib.sha256(down).digest()


def recv_exactly_in(sock: socket.socket, n: int, piece: int) -> bytes:
    """Read ``n`` bytes in reads of at most ``piece`` (small pieces: a slow reader)."""
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(min(piece, n - len(out)))
        assert chunk, "connection closed early"
        out += chunk
    return bytes(out)


def test_a_down_upstream_looks_like_a_reset_and_a_restarted_one_is_reached(
    net: Network,
) -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    address = probe.getsockname()
    probe.close()  # n2 is down: nothing listens at its address
    port = net.add_link("n1", "n2", address)
    resets = (ConnectionResetError, BrokenPipeError)
    with pytest.raises(resets), socket.create_connection(("127.0.0.1", port), 5) as dialler:
        dialler.sendall(b"hello?")
        dialler.recv(1)
    restarted = socket.create_server(address)  # n2 back on the same port
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as dialler:
            dialler.sendall(b"hi")
            restarted.settimeout(5)
            conn, _ = restarted.accept()
            with conn:
                conn.settimeout(5)
                assert recv_exactly(conn, 2) == b"hi"
    finally:
        restarted.close()


def test_many_connections_at_once_keep_their_bytes_apart(net: Network) -> None:
    up = Upstream()
    port = net.add_link("n1", "n2", up.address)
    diallers = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(100)]
    accepted = [up.accept() for _ in diallers]
    for i, d in enumerate(diallers):
        d.sendall(f"{i:04d}".encode())
    seen = sorted(recv_exactly(a, 4).decode() for a in accepted)
    assert seen == [f"{i:04d}" for i in range(100)]
    assert net.state()["proxies"][0]["connections"] == 100
    for s in (*diallers, *accepted, up.sock):
        s.close()
