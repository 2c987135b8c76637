"""Ingress mode: one proxy in front of a node, diallers identified by a regex over
their first bytes, faults per (dialler, node), and the unidentified policies."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from socket_helpers import QUIET_S, recv_exactly, silent

from distlab.errors import UsageError
from distlab.net import Network
from distlab.net.probe import IDENTIFY, IDENTIFY_HOOK


class Node2:
    """n2's peer port behind its ingress proxy."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = self.sock.getsockname()

    def accept(self, timeout: float = 5) -> socket.socket:
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        conn.settimeout(5)
        return conn


def ingress(
    tmp_path: Path, unidentified: str, identify: str = IDENTIFY
) -> tuple[Network, Node2, int]:
    net = Network.start(tmp_path, seed=1)
    node2 = Node2()
    port = net.add_ingress("n2", node2.address, identify, unidentified=unidentified)
    net.add_node("n1")
    net.add_node("n3")
    return net, node2, port


@pytest.fixture
def rejecting(tmp_path: Path) -> Iterator[tuple[Network, Node2, int]]:
    net, node2, port = ingress(tmp_path, "reject")
    yield net, node2, port
    net.close()
    node2.sock.close()


def dial(port: int, first: bytes = b"") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if first:
        s.sendall(first)
    return s


def test_faults_apply_per_dialler_and_direction(rejecting) -> None:
    net, node2, port = rejecting
    from_n1 = dial(port, b"HELLO n1\n")
    at_n2_from_n1 = node2.accept()
    from_n3 = dial(port, b"HELLO n3\n")
    at_n2_from_n3 = node2.accept()
    assert recv_exactly(at_n2_from_n1, 9) == b"HELLO n1\n"
    assert recv_exactly(at_n2_from_n3, 9) == b"HELLO n3\n"

    net.cut("n1", "n2")  # only n1's bytes towards n2
    from_n1.sendall(b"x")
    from_n3.sendall(b"y")
    assert recv_exactly(at_n2_from_n3, 1) == b"y"
    assert silent(at_n2_from_n1)
    at_n2_from_n1.sendall(b"z")  # n2 -> n1 still flows inside the same connection
    assert recv_exactly(from_n1, 1) == b"z"
    assert {(p["kind"], p["dst"], p["connections"]) for p in net.state()["proxies"]} == {
        ("ingress", "n2", 2)
    }
    for s in (from_n1, from_n3, at_n2_from_n1, at_n2_from_n3):
        s.close()


def test_identification_is_rechecked_as_bytes_arrive(rejecting) -> None:
    _net, node2, port = rejecting
    client = dial(port, b"HEL")
    with pytest.raises(TimeoutError):
        node2.accept(timeout=QUIET_S)  # not identified: nothing is forwarded, no upstream yet
    client.sendall(b"LO n3\npayload")
    at_n2 = node2.accept()
    assert recv_exactly(at_n2, 16) == b"HELLO n3\npayload"
    client.close()
    at_n2.close()


def test_reject_partition_resets_a_dialler_once_identified(rejecting) -> None:
    net, node2, port = rejecting
    net.partition([["n1"], ["n2", "n3"]], mode="reject")
    n1 = dial(port, b"HELLO n1\n")
    with pytest.raises(ConnectionResetError):
        n1.recv(1)
    n3 = dial(port, b"HELLO n3\n")
    assert recv_exactly(node2.accept(), 9) == b"HELLO n3\n"
    n1.close()
    n3.close()


def test_reject_policy_resets_a_connection_that_never_says_who_it_is(rejecting) -> None:
    _, _, port = rejecting
    client = dial(port)
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        client.sendall(b"?" * (70 * 1024))  # past the 64 KiB scan limit
        client.recv(1)
    client.close()


def test_allow_policy_forwards_unidentified_bytes_and_faults_once_known(tmp_path: Path) -> None:
    net, node2, port = ingress(tmp_path, "allow")
    try:
        net.cut("n1", "n2")
        client = dial(port, b"junk\n")
        at_n2 = node2.accept()
        assert recv_exactly(at_n2, 5) == b"junk\n"  # unknown dialler: not faulted
        client.sendall(b"HELLO n1\n")  # now known as n1, whose bytes to n2 are cut
        client.sendall(b"more")
        assert silent(at_n2)
        client.close()
        at_n2.close()
    finally:
        net.close()
        node2.sock.close()


def test_hold_policy_waits_for_identification(tmp_path: Path) -> None:
    net, node2, port = ingress(tmp_path, "hold")
    try:
        client = dial(port, b"preamble ")
        with pytest.raises(TimeoutError):
            node2.accept(timeout=QUIET_S)
        client.sendall(b"HELLO n1\n")
        at_n2 = node2.accept()
        assert recv_exactly(at_n2, 18) == b"preamble HELLO n1\n"
        client.close()
        at_n2.close()
    finally:
        net.close()
        node2.sock.close()


@pytest.mark.parametrize(
    ("identify", "policy", "says"),
    [
        ("HELLO (", "reject", "is not valid"),
        ("HELLO", "reject", "has no group"),
        (IDENTIFY, "drop", "unidentified policy 'drop'"),
        ("hook:distlab.net.nowhere:f", "reject", "cannot be loaded"),
        ("hook:distlab.net.probe:IDENTIFY", "reject", "is not a function"),
    ],
)
def test_bad_ingress_settings_are_usage_errors(
    tmp_path: Path, identify: str, policy: str, says: str
) -> None:
    with Network.start(tmp_path, in_process=True) as net, pytest.raises(UsageError, match=says):
        net.add_ingress("n2", ("127.0.0.1", 9), identify, unidentified=policy)


def test_topology_refuses_links_it_lacks_and_heal_keeps_it(rejecting) -> None:
    net, node2, port = rejecting
    live_n1 = dial(port, b"HELLO n1\n")
    n2_side = node2.accept()  # kept open: n2 closing it would end the connection by itself
    net.set_topology([("n3", "n2"), ("n2", "n3")])  # n1 has no link to n2
    with pytest.raises(ConnectionResetError):
        live_n1.recv(1)
    net.heal()  # heal clears faults, not the topology
    n1 = dial(port, b"HELLO n1\n")
    with pytest.raises(ConnectionResetError):
        n1.recv(1)
    n3 = dial(port, b"HELLO n3\n")
    assert recv_exactly(node2.accept(), 9) == b"HELLO n3\n"
    assert net.state()["topology"] == ["n3->n2", "n2->n3"]
    for s in (live_n1, n1, n3, n2_side):
        s.close()


def test_a_user_hook_can_identify_the_dialler(tmp_path: Path) -> None:
    net, node2, port = ingress(tmp_path, "reject", identify=IDENTIFY_HOOK)
    try:
        net.cut("n1", "n2")
        n3 = dial(port, b"HEL")
        n3.sendall(b"LO n3\ny")  # identified on the second chunk
        at_n2_from_n3 = node2.accept()
        assert recv_exactly(at_n2_from_n3, 10) == b"HELLO n3\ny"
        n1 = dial(port, b"HELLO n1\nx")  # identified as n1, whose bytes to n2 are cut
        at_n2_from_n1 = node2.accept()
        assert silent(at_n2_from_n1)
        for s in (n1, n3, at_n2_from_n1, at_n2_from_n3):
            s.close()
    finally:
        net.close()
        node2.sock.close()
