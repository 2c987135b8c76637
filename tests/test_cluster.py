"""The cluster with echo nodes: lifecycle, states, events, samples, health probes."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest
from cluster_helpers import ask, echo_settings, wait_for

from distlab import events, proc
from distlab.cluster import Cluster, NodeState
from distlab.config.schema import ClusterSettings, NetworkSettings


@pytest.fixture
def cluster_settings() -> ClusterSettings:
    return echo_settings(nodes=3)


@pytest.fixture
def cluster_network() -> NetworkSettings:
    return NetworkSettings(proxy_process=False)


def test_nodes_come_up_with_distinct_addresses_and_logs(cluster: Cluster) -> None:
    assert cluster.ids == ["n1", "n2", "n3"]
    ports = set()
    for node in cluster:
        assert node.state is NodeState.UP
        assert psutil.pid_exists(node.pid)
        assert ask(cluster.client_address(node.id), "ID") == node.id
        # With client links the client port is a proxy in front of the node's own port.
        assert node.port != node.direct_port
        ports |= {node.port, node.direct_port, node.peer_port}
        assert "listening on" in node.log_path.read_text()
        assert node.data_dir.is_dir()
    assert len(ports) == 9


def test_pause_and_resume_are_seen_by_peers(cluster: Cluster) -> None:
    n1 = cluster.client_address("n1")
    assert ask(n1, "PROBE n2 3000") == "OK n2"
    cluster["n2"].pause()
    assert cluster["n2"].state is NodeState.PAUSED
    assert psutil.Process(cluster["n2"].pid).status() == psutil.STATUS_STOPPED
    assert ask(n1, "PROBE n2 300").startswith("FAIL n2")
    cluster["n2"].resume()
    assert cluster["n2"].state is NodeState.UP
    assert ask(n1, "PROBE n2 3000") == "OK n2"


def test_kill_and_restart_keep_id_port_and_data_dir(cluster: Cluster) -> None:
    n2 = cluster["n2"]
    old_pid, port, data_dir = n2.pid, n2.port, n2.data_dir
    assert ask(cluster.client_address("n2"), "STARTS") == "1"
    n2.kill()
    assert n2.state is NodeState.DOWN and n2.pid is None and n2.signal == "SIGKILL"
    assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == "zombie"
    assert ask(cluster.client_address("n1"), "PROBE n2 300").startswith("FAIL n2")
    n2.restart()
    assert n2.state is NodeState.UP and n2.pid != old_pid
    assert (n2.port, n2.data_dir) == (port, data_dir)
    # The same data dir: the node counts its second start there.
    assert ask(cluster.client_address("n2"), "STARTS") == "2"
    assert ask(cluster.client_address("n1"), "PROBE n2 3000") == "OK n2"


def test_a_node_that_dies_on_its_own_is_crashed_with_its_exit_code(cluster: Cluster) -> None:
    n3 = cluster["n3"]
    try:
        ask(cluster.client_address("n3"), "EXIT 7", timeout=2)
    except OSError:
        pass  # it may go before it answers
    assert wait_for(lambda: n3.state is NodeState.CRASHED)
    assert (n3.exit_code, n3.signal) == (7, None)
    n1 = cluster["n1"]
    os.kill(n1.pid, signal.SIGSEGV)
    assert wait_for(lambda: n1.state is NodeState.CRASHED)
    assert (n1.exit_code, n1.signal) == (None, "SIGSEGV")


@pytest.mark.cluster(nodes=1, command=echo_settings("--ignore-term").command)
def test_stop_escalates_to_sigkill_after_the_grace(cluster: Cluster) -> None:
    n1 = cluster["n1"]
    n1.stop(grace_s=0.2)
    assert (n1.state, n1.signal) == (NodeState.DOWN, "SIGKILL")


@pytest.mark.cluster(nodes=1)
def test_stop_ends_a_well_behaved_node_with_sigterm(cluster: Cluster) -> None:
    n1 = cluster["n1"]
    n1.stop()
    assert (n1.state, n1.signal) == (NodeState.DOWN, "SIGTERM")


@pytest.mark.cluster(nodes=2)
def test_psutil_samples_reach_samples_and_events(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "events.jsonl"
    monkeypatch.setattr(events, "_sink", events.EventSink(str(log)))
    assert wait_for(lambda: set(cluster.samples()) == {"n1", "n2"}, 5)
    for node_id, figures in cluster.samples().items():
        assert figures["pid"] == cluster[node_id].pid
        assert figures["rss_bytes"] > 1_000_000
        assert figures["fds"] >= 3 and figures["threads"] >= 1
        assert figures["cpu_percent"] >= 0
    cluster["n2"].kill()

    def seen() -> list[events.Event]:
        return list(events.read_events(log))

    assert wait_for(lambda: any(isinstance(e, events.NodeSample) for e in seen()), 3)
    states = [e for e in seen() if isinstance(e, events.NodeStateChanged)]
    assert (states[-1].node, states[-1].state, states[-1].signal) == ("n2", "down", "SIGKILL")


@pytest.mark.cluster(nodes=1)
def test_a_node_restarted_from_a_short_lived_thread_outlives_the_thread(
    cluster: Cluster,
) -> None:
    # PDEATHSIG fires when the forking *thread* exits; spawn must fork elsewhere.
    thread = threading.Thread(target=cluster["n1"].restart)
    thread.start()
    thread.join()
    pid = cluster["n1"].pid
    time.sleep(0.2)  # give a wrongly armed death signal time to strike
    assert cluster["n1"].poll() is NodeState.UP and psutil.pid_exists(pid)
    assert ask(cluster.client_address("n1"), "ID") == "n1"


@pytest.mark.parametrize("wiring", ["per-link", "ingress"])
def test_ring_topology_leaves_out_the_links_it_does_not_have(tmp_path: Path, wiring: str) -> None:
    settings = echo_settings(nodes=4, topology="ring", wiring=wiring)
    with Cluster(settings, tmp_path) as cluster:
        assert cluster.net is not None
        n1 = cluster.client_address("n1")
        # n1's neighbours on the ring are n2 and n4; n3 is a member it cannot reach.
        assert json.loads(ask(n1, "PROBEALL 3000")) == {"n2": True, "n3": False, "n4": True}
        # A heal after a fault undoes the fault, never the topology.
        cluster.net.partition_shape("isolate", cluster.ids, node="n1")
        cluster.net.heal()
        assert json.loads(ask(n1, "PROBEALL 3000")) == {"n2": True, "n3": False, "n4": True}


def test_http_and_command_health_probes(tmp_path: Path) -> None:
    server = "{python} -m http.server {port} --bind 127.0.0.1 --directory {data_dir}"
    settings = ClusterSettings(nodes=1, command=server, health_check="http", health_path="/")
    with Cluster(settings, tmp_path, direct=True) as c:
        assert c["n1"].state is NodeState.UP
    probe = "{python} -c \"import socket; socket.create_connection(('127.0.0.1', {port}))\""
    settings = echo_settings(nodes=1, health_check="command", health_command=probe)
    with Cluster(settings, tmp_path, direct=True) as c:
        assert c["n1"].state is NodeState.UP
        assert ask(c.client_address("n1"), "ID") == "n1"
    assert not proc.leaked()


@pytest.mark.cluster(nodes=2)
def test_clients_reach_nodes_through_a_link_that_can_be_cut(cluster: Cluster) -> None:
    assert cluster.net is not None
    assert ask(cluster.client_address("n1"), "ID") == "n1"
    cluster.net.cut("client", "n1")
    with pytest.raises(socket.timeout):
        ask(cluster.client_address("n1"), "ID", timeout=0.3)
    assert ask(cluster.client_address("n2"), "ID") == "n2"
    cluster.net.heal()
    assert ask(cluster.client_address("n1"), "ID") == "n1"
