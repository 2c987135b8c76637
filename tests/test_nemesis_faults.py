"""Each fault kind, played by a real nemesis on echo nodes, and seen from outside.

Every fault here starts at 0 s and would last a minute; the test watches its
effect, then stops the nemesis, which must end the fault (and the test then
sees the node healthy again). Nothing waits on wall-clock guesses: each wait
polls a condition with a deadline.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from cluster_helpers import ask, echo_settings, reachable

from distlab.config.schema import ClusterSettings
from distlab.errors import UsageError
from distlab.nemesis import Lab, Nemesis, Schedule, make_fault, small_filesystem
from distlab.workload import HistoryRecorder

LONG = 60.0
MESH3 = {(a, b) for a in ("n1", "n2", "n3") for b in ("n1", "n2", "n3") if a != b}


@pytest.fixture
def cluster_settings() -> ClusterSettings:
    return echo_settings(nodes=3)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        time.sleep(0.05)


def play(cluster: Any, *faults: Any, recorder: Any = None, **lab: Any) -> Nemesis:
    """Start a nemesis with ``faults`` and wait until each has started."""
    n = Nemesis(
        Lab(cluster=cluster, **lab), Schedule(tuple(faults), name="t"), seed=1, recorder=recorder
    )
    n.start()
    wait_for("the faults to start", lambda: len(n.applied) == len(faults))
    assert not n.errors, n.errors
    return n


def answers(cluster: Any, node: str, timeout: float = 1.0) -> bool:
    try:
        return ask(cluster.client_address(node), "ID", timeout=timeout) == node
    except OSError:
        return False


def companions(marker: str) -> list[psutil.Process]:
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if any(marker in part for part in p.cmdline()):
                out.append(p)
        except psutil.Error:
            continue
    return out


def test_partition_peers_lose_contact_and_the_history_marks_the_window(cluster, tmp_path) -> None:
    recorder = HistoryRecorder(tmp_path / "h.jsonl")
    n = play(cluster, make_fault("partition", "n2", 0, LONG, shape="isolate"), recorder=recorder)
    cut = {p for p in MESH3 if "n2" in p}
    wait_for("n2 to be cut off", lambda: reachable(cluster) == MESH3 - cut)
    n.stop()
    wait_for("the mesh to heal", lambda: reachable(cluster) == MESH3)
    marks = [
        (r["f"], r["value"].get("target")) for r in recorder.records if r["process"] == "nemesis"
    ]
    assert marks == [("fault.start", ["n2"]), ("fault.end", None)]
    assert recorder.stats().windows  # the stats see the fault window


def test_kill_and_pause_are_seen_by_peers_and_undone(cluster) -> None:
    n = play(cluster, make_fault("kill", "n2", 0, LONG), make_fault("pause", "n3", 0, LONG))
    assert str(cluster["n2"].state) == "down" and str(cluster["n3"].state) == "paused"
    assert ask(cluster.client_address("n1"), "PROBE n2 300").startswith("FAIL")
    assert ask(cluster.client_address("n1"), "PROBE n3 300").startswith("FAIL")
    n.stop()
    assert str(cluster["n2"].state) == "up" and str(cluster["n3"].state) == "up"
    wait_for(
        "n1 to reach n2 and n3 again",
        lambda: all(
            ask(cluster.client_address("n1"), f"PROBE {p} 500").startswith("OK")
            for p in ("n2", "n3")
        ),
    )


def test_latency_on_a_node_slows_its_links(cluster) -> None:
    n = play(cluster, make_fault("latency", "n2", 0, LONG, ms=250))
    started = time.monotonic()
    assert ask(cluster.client_address("n1"), "PROBE n2 3000").startswith("OK")
    assert time.monotonic() - started >= 0.25  # a lower bound only: the delay is injected
    state = cluster.net.state()["faults"]
    assert any("n2" in flow and faults.get("latency_ms") == 250 for flow, faults in state.items())
    n.stop()
    assert cluster.net.state()["faults"] == {}


def test_memory_pressure_companion_grows_to_the_asked_rss(cluster) -> None:
    n = play(cluster, make_fault("memory", "n1", 0, LONG, rss_mb=48))
    hogs = wait_for("the companion", lambda: companions("bytearray"))
    assert len(hogs) == 1
    assert hogs[0].memory_info().rss >= 48 * 1024 * 1024
    n.stop()
    assert not companions("bytearray")


def test_cpu_spike_burns_cpu_beside_the_node(cluster) -> None:
    n = play(cluster, make_fault("cpu", "n1", 0, LONG, procs=2))
    burners = wait_for(
        "two burners",
        lambda: len(companions("while True: pass")) == 2 and companions("while True: pass"),
    )
    wait_for("the burners to use CPU", lambda: all(sum(p.cpu_times()[:2]) > 0.2 for p in burners))
    n.stop()
    assert not companions("while True: pass")


def test_fd_exhaustion_makes_new_connections_go_unanswered(cluster) -> None:
    assert answers(cluster, "n1")
    n = play(cluster, make_fault("fds", "n1", 0, LONG))
    assert not answers(cluster, "n1", timeout=1.0), "n1 accepted a connection with no fds to spare"
    assert answers(cluster, "n2")
    n.stop()
    wait_for("n1 to answer again", lambda: answers(cluster, "n1"))


@pytest.fixture
def small_disk() -> Any:
    with small_filesystem(8) as mount:
        yield mount


def test_disk_full_makes_writes_in_the_data_dir_fail(small_disk, cluster_network, tmp_path) -> None:
    from distlab.cluster import Cluster

    settings = echo_settings(nodes=1, data_dir=str(small_disk))
    with Cluster(settings, tmp_path, network=cluster_network, name="disk") as cluster:
        data = Path(cluster["n1"].data_dir)
        assert str(data).startswith(str(small_disk))
        n = play(cluster, make_fault("disk_full", "n1", 0, LONG))
        with pytest.raises(OSError) as raised, open(data / "write-test", "wb") as f:
            f.write(b"x" * 1_000_000)
            f.flush()
        assert raised.value.errno == errno.ENOSPC
        n.stop()
        (data / "write-test").write_bytes(b"x" * 1_000_000)
        cluster["n1"].restart()  # and the node can start again on it


def test_limits_the_machine_cannot_apply_are_refused_before_anything_starts(cluster) -> None:
    for fault, message in [
        (
            make_fault("disk_full", "n1", 0, LONG, max_fill_mb=1),
            "MiB free, more than max_fill_mb=1",
        ),
        (
            make_fault("memory", "all", 0, LONG, rss_mb=65536),
            "65536 MiB per node, this machine has",
        ),
    ]:
        n = Nemesis(Lab(cluster=cluster), Schedule((fault,)))
        with pytest.raises(UsageError, match=message) as raised:
            n.start()
        assert "cannot apply" in str(raised.value) and "\n" not in str(raised.value)
        assert n.applied == []
    assert not companions("bytearray")


def address_space_limit(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max address space"):
            return line.split()[3]  # the soft limit
    raise AssertionError("no address space line")


def test_memory_limit_caps_the_live_node_and_is_restored(cluster) -> None:
    pid = cluster["n1"].pid
    before = address_space_limit(pid)
    n = play(cluster, make_fault("memory_limit", "n1", 0, LONG, limit_mb=4096))
    assert address_space_limit(pid) == str(4096 * 2**20)
    n.stop()
    assert address_space_limit(pid) == before


def test_link_faults_take_a_seeded_share_of_links_and_heal_clears_them(cluster) -> None:
    n = play(
        cluster,
        make_fault("loss", "all", 0, LONG, probability=0.5, links=0.5),
        make_fault("bandwidth", "n3", 0, LONG, kbit_s=128),
    )
    faults = cluster.net.state()["faults"]
    lossy = {flow for flow, f in faults.items() if f.get("loss") == 0.5}
    slow = {flow for flow, f in faults.items() if f.get("kbit_s") == 128}
    assert len(lossy) == 3  # half of the 6 peer flows of a 3-node mesh
    assert slow == {"n1->n3", "n3->n1", "n2->n3", "n3->n2"}
    assert {a.fault.kind: a.nodes for a in n.applied}["loss"] == ["n1", "n2", "n3"]
    heal = Nemesis(Lab(cluster=cluster), Schedule((make_fault("heal", "all", 0, 0),), name="heal"))
    heal.run()
    assert cluster.net.state()["faults"] == {}
    n.stop()
