"""What real third-party clusters need (issue 15), each with real node processes:
peers identified by the address they advertise, a misnamed dialler reported at
its first connection, groups of different members, placeholders, health
bodies and a SIGTERM teardown."""

from __future__ import annotations

import dataclasses
import http.client
from pathlib import Path

import pytest
from cluster_helpers import ECHO_COMMAND, ask, echo_settings, reachable, wait_for

from distlab import events
from distlab.cluster import Cluster
from distlab.config.schema import ClusterSettings, GroupSettings
from distlab.errors import LabError
from distlab.nemesis import make_fault
from distlab.nemesis.actions import Lab
from distlab.nemesis.nemesis import Nemesis
from distlab.nemesis.schedule import Schedule

HTTP_NODE = Path(__file__).with_name("http_health_node.py")
# The dialler names only its advertised peer URL; the port in it is the node's ingress proxy.
BY_PORT = r"X-Peer-URL: http://127\.0\.0\.1:(?P<port>\d+)\n"
URL_ARGS = "--hello-url http://127.0.0.1:{advertise_port}"


def test_ingress_identifies_peers_by_the_port_they_advertise(tmp_path: Path) -> None:
    settings = echo_settings(URL_ARGS, wiring="ingress", ingress_identify=BY_PORT)
    with Cluster(settings, tmp_path) as cluster:
        everyone = {(a, b) for a in cluster.ids for b in cluster.ids if a != b}
        assert reachable(cluster) == everyone
        assert cluster.net is not None
        cluster.net.partition_shape("isolate", node="n1", mode="reject")
        # Only a dialler identified as n1 by its advertised port is cut off.
        assert reachable(cluster) == {("n2", "n3"), ("n3", "n2")}
        cluster.net.heal()
        assert reachable(cluster) == everyone
        assert cluster.net.identify_errors() == []


def test_a_rule_that_names_no_node_fails_the_start_at_its_first_connection(
    tmp_path: Path,
) -> None:
    # The rule captures the port as if it were the id: "38113" is no node.
    wrong = r"X-Peer-URL: http://127\.0\.0\.1:(?P<id>\d+)\n"
    settings = echo_settings(
        URL_ARGS + " --dial-at-start",
        wiring="ingress",
        ingress_identify=wrong,
        start_timeout_s=120.0,
    )
    log = tmp_path / "events.jsonl"
    previous = events.redirect(f"file:{log}")
    try:
        with pytest.raises(LabError) as caught:
            Cluster(settings, tmp_path / "run").start()
    finally:
        events.redirect(previous)
    message = str(caught.value)
    # The misnaming itself, not the health timeout ("was not healthy after 120 s").
    assert "which is not a node; valid ids: n1, n2, n3" in message, message
    assert "not healthy" not in message and "\n" not in message
    logged = [e for e in events.read_events(log) if isinstance(e, events.Log)]
    assert any(e.level == "error" and "which is not a node" in e.message for e in logged)
    proxy_log = (tmp_path / "run" / "net-proxy.log").read_text()
    assert "which is not a node; valid ids: n1, n2, n3" in proxy_log


def groups_settings(**overrides: object) -> ClusterSettings:
    group = GroupSettings(nodes=2, command=ECHO_COMMAND, stop_grace_s=2.0)
    return dataclasses.replace(
        ClusterSettings(
            ingress_identify=r"^(?:HELLO|NOTE) ([a-z]+\d+)\n",
            groups={"a": group, "b": group},
        ),
        **overrides,
    )


@pytest.mark.parametrize("wiring", ["per-link", "ingress"])
def test_two_groups_are_partitioned_by_group(tmp_path: Path, wiring: str) -> None:
    with Cluster(groups_settings(wiring=wiring), tmp_path) as cluster:
        assert cluster.ids == ["a1", "a2", "b1", "b2"]
        assert cluster.groups == {"a": ["a1", "a2"], "b": ["b1", "b2"]}
        assert cluster.net is not None
        cluster.net.partition([cluster.group("a"), cluster.group("b")], mode="reject")
        assert reachable(cluster) == {("a1", "a2"), ("a2", "a1"), ("b1", "b2"), ("b2", "b1")}
        cluster.net.heal()
        # group:b through the nemesis: each member of b is cut off, and the
        # fault event names exactly those two.
        nemesis = Nemesis(Lab(cluster=cluster, net=cluster.net), Schedule(()), seed=1)
        nemesis.start()
        try:
            applied = nemesis.apply_now(
                make_fault("partition", "group:b", shape="isolate", mode="reject")
            )
            assert applied.nodes == ["b1", "b2"]
            assert reachable(cluster) == {("a1", "a2"), ("a2", "a1")}
            one = nemesis.apply_now(make_fault("kill", "one:group:a"))
            assert len(one.nodes) == 1 and one.nodes[0] in ("a1", "a2")
        finally:
            nemesis.stop()


def test_placeholders_name_group_token_and_other_members_ports(tmp_path: Path) -> None:
    tagged = ECHO_COMMAND + " --tag {group}:{cluster_token}:{ports[a1]}:{advertise_ports[b2]}"
    group = GroupSettings(nodes=2, command=tagged, stop_grace_s=2.0)
    settings = ClusterSettings(groups={"a": group, "b": group})
    tokens = []
    for run in ("first", "second"):
        with Cluster(settings, tmp_path, name=run) as cluster:
            tags = {n: ask(cluster.client_address(n), "TAG") for n in cluster.ids}
            token = cluster.token
            assert len(token) == 16
            assert tags["a2"] == f"a:{token}:{cluster['a1'].port}:{cluster['b2'].advertise_port}"
            assert tags["b1"].startswith(f"b:{token}:")
            tokens.append(token)
    assert tokens[0] != tokens[1]  # unique per cluster start


def test_http_health_waits_for_the_body(tmp_path: Path) -> None:
    command = f"{{python}} {HTTP_NODE} --port {{port}} --ready-after 1.5"
    settings = ClusterSettings(
        nodes=1,
        command=command,
        health_check="http",
        health_body='"ready"',
        stop_grace_s=1.0,
    )
    with Cluster(settings, tmp_path, direct=True) as cluster:
        conn = http.client.HTTPConnection(*cluster.client_address("n1"), timeout=5)
        conn.request("GET", "/health")
        # Up only once the body said so, though the endpoint answered 200 from the start.
        assert conn.getresponse().read() == b'{"status": "ready"}'
        conn.close()


def test_teardown_sends_sigterm_and_waits_for_a_clean_exit(tmp_path: Path) -> None:
    settings = echo_settings("--term-file {data_dir}/term", nodes=2, stop_grace_s=10.0)
    cluster = Cluster(settings, tmp_path)
    with cluster:
        dirs = [node.data_dir for node in cluster]
        pids = [node.pid for node in cluster]
    for data_dir in dirs:
        assert (data_dir / "term").read_text() == "clean\n"  # it ran its SIGTERM handler
    assert all(node.signal is None and node.exit_code == 0 for node in cluster)
    assert pids and all(not Path(f"/proc/{pid}").exists() for pid in pids)


def test_teardown_kills_a_node_that_ignores_sigterm_after_the_grace(tmp_path: Path) -> None:
    settings = echo_settings("--ignore-term", nodes=1, stop_grace_s=0.5)
    with Cluster(settings, tmp_path) as cluster:
        node = cluster["n1"]
    assert node.signal == "SIGKILL"


def test_doctor_names_a_groups_missing_program(tmp_path: Path) -> None:
    from distlab.config.loader import loads
    from distlab.doctor import check_node_command

    config = loads(
        "[cluster.groups.server]\nnodes = 2\n"
        'command = "sh node.sh {port}"\nrequires = ["no-such-server-xyz"]\n'
    )
    check = check_node_command(config)
    assert not check.ok
    assert "no-such-server-xyz ([cluster.groups.server])" in check.detail


@pytest.mark.parametrize("reset", [False, True])
def test_a_partition_heals_clean_when_asked_to(tmp_path: Path, reset: bool) -> None:
    with Cluster(echo_settings(nodes=2), tmp_path) as cluster:
        n1 = cluster.client_address("n1")
        assert ask(n1, "PING n2 2000") == "OK n2"  # one connection, kept open
        nemesis = Nemesis(Lab(cluster=cluster, net=cluster.net), Schedule(()), seed=1)
        nemesis.start()
        try:
            cut = nemesis.apply_now(make_fault("partition", "n1", shape="isolate", reset=reset))
            assert ask(n1, "PING n2 300").startswith("FAIL n2")  # its bytes are lost
            nemesis.end_now(cut.id)
        finally:
            nemesis.stop()
        after = ask(n1, "PING n2 2000")
        # reset = true: the connection that lost bytes is reset, as TCP would after a
        # retransmission timeout; by default the stream resumes (the echo comes back).
        assert after.startswith("FAIL n2") if reset else after == "OK n2", after


def test_a_misnamed_dialler_after_start_is_an_error_event(tmp_path: Path) -> None:
    wrong = r"X-Peer-URL: http://127\.0\.0\.1:(?P<id>\d+)\n"
    settings = echo_settings(URL_ARGS, wiring="ingress", ingress_identify=wrong)
    log = tmp_path / "events.jsonl"
    previous = events.redirect(f"file:{log}")
    try:
        with Cluster(settings, tmp_path / "run") as cluster:
            assert ask(cluster.client_address("n1"), "PROBE n2").startswith("FAIL n2")

            def reported() -> bool:
                logged = [e for e in events.read_events(log) if isinstance(e, events.Log)]
                return any(
                    e.level == "error" and "which is not a node" in e.message for e in logged
                )

            assert wait_for(reported, 10)
    finally:
        events.redirect(previous)
