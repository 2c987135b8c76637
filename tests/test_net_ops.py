"""The proxy server's control ops: typed on both ends, decoded once, bad ones refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distlab.net import Network, ops
from distlab.net.backend import ProxyBackend
from distlab.net.faults import HEALTHY, FlowFaults
from distlab.net.server import ThreadedServer

EVERY_OP: list[ops.Op] = [
    ops.AddLink("n1", "n2", ("127.0.0.1", 4000)),
    ops.AddLink("n1", "n2", ("127.0.0.1", 4000), port=4100),
    ops.AddIngress("n1", ("127.0.0.1", 4000), r"^HELLO (\S+)", "hold", 4200),
    ops.SetFaults(
        (
            (("n1", "n2"), FlowFaults(block="drop")),
            (("n2", "n1"), FlowFaults(latency_ms=50.0, jitter_ms=5.0, loss=0.1, kbit_s=64.0)),
            (("n1", "n3"), FlowFaults(stall=True)),
            (("n3", "n1"), HEALTHY),
        ),
        reset_gaps=True,
    ),
    ops.SetTopology((("n1", "n2"), ("n2", "n1"))),
    ops.SetTopology(None),
    ops.Reset((("n1", "n2"),)),
    ops.SetAddressBook((("4000", "n1"), ("127.0.0.1:4000", "n1"))),
    ops.State(),
    ops.Ping(),
    ops.Close(),
]


def test_every_op_has_a_name_and_survives_the_wire() -> None:
    missing = set(ops.OPS.values()) - {type(op) for op in EVERY_OP}
    assert not missing, f"add a round-trip case to EVERY_OP for {sorted(c.op for c in missing)}"
    for op in EVERY_OP:
        assert ops.decode(json.loads(json.dumps(ops.encode(op)))) == op


BAD: list[tuple[object, str]] = [
    ({"op": "explode"}, "unknown control op 'explode'; known: add_link, add_ingress,"),
    ({"src": "n1"}, "unknown control op None"),
    (["add_link"], "a control request is a JSON object"),
    ({"op": "add_link", "dst": "n2", "upstream": ["h", 1]}, "control op add_link: src is missing"),
    (
        {"op": "add_link", "src": "n1", "dst": "n2", "upstream": ["h", 1], "prot": 5},
        "control op add_link: unknown field 'prot'",
    ),
    (
        {"op": "add_link", "src": "n1", "dst": "n2", "upstream": ["h", "80"]},
        "control op add_link: upstream must be [host, port], got ['h', '80']",
    ),
    (
        {"op": "add_link", "src": "n1", "dst": "n2", "upstream": ["h", 1], "port": 70000},
        "port must be a port from 0 to 65535",
    ),
    ({"op": "reset", "flows": [["n1"]]}, "control op reset: flows must be a list of [src, dst]"),
    ({"op": "set_topology"}, "control op set_topology: links is missing"),
    (
        {"op": "set_faults", "faults": [["n1", "n2", {"latency": 5}]]},
        "control op set_faults: faults must be a list of [src, dst, faults or null] "
        "(unknown fault 'latency')",
    ),
    (
        {"op": "set_faults", "faults": [["n1", "n2", {"block": "blackhole"}]]},
        "(block cannot be 'blackhole')",
    ),
    ({"op": "set_faults", "faults": [["n1", "n2", {"loss": -1}]]}, "(loss cannot be -1)"),
    (
        {"op": "set_faults", "faults": [], "reset_gaps": "yes"},
        "control op set_faults: reset_gaps must be true or false, got 'yes'",
    ),
    ({"op": "ping", "now": True}, "control op ping: unknown field 'now'"),
]


@pytest.mark.parametrize(("request_", "says"), BAD, ids=[says for _, says in BAD])
def test_a_bad_request_is_one_line_naming_the_op_and_field(request_: object, says: str) -> None:
    with pytest.raises(ops.BadRequest) as e:
        ops.decode(request_)
    assert says in str(e.value)
    assert "\n" not in str(e.value)


def test_the_server_refuses_a_bad_request_and_changes_nothing() -> None:
    server = ThreadedServer(seed=0)
    try:
        before = server.request({"op": "state"})
        bad = {"op": "set_faults", "faults": [["n1", "n2", {"block": "drop"}], ["n2"]]}
        reply = server.request(bad)
        assert reply["ok"] is False and reply["type"] == "BadRequest"
        assert "control op set_faults: faults must be" in reply["error"]
        assert server.request({"op": "state"}) == before  # the good first entry was not applied
        assert server.request({"op": "nope"}) == {
            "ok": False,
            "error": f"unknown control op 'nope'; known: {', '.join(ops.OPS)}",
            "type": "BadRequest",
        }
        assert server.request(ops.encode(ops.Ping())) == {"ok": True, "result": "pong"}
    finally:
        server.close()


def test_the_server_process_keeps_serving_after_a_bad_request(tmp_path: Path) -> None:
    with Network.start(tmp_path) as net:
        backend = net.backend
        assert isinstance(backend, ProxyBackend)
        reply = backend._remote({"op": "add_link", "src": "n1"})
        assert reply["ok"] is False and "dst is missing" in reply["error"]
        assert net.add_link("n1", "n2", ("127.0.0.1", 9)) > 0
        assert backend.request(ops.Ping()) == "pong"
