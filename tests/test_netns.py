"""netns mode: echo nodes as hosts in network namespaces, faults as kernel rules.

For every partition shape the measured TCP and UDP connectivity equals the
hand-written matrix (test_cluster_net.EXPECTED_CUT); UDP gossip is cut and
healed; the root namespace's links, routes and ruleset are the same after a
run; a SIGKILLed owner leaves no namespace behind. Needs root (CI is root;
``make test`` installs iproute2 and nftables).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import ask, directed_reach, echo_settings, reachable, wait_for
from test_cluster_net import EXPECTED_CUT, IDS, MESH

from distlab.cluster import Cluster
from distlab.config.schema import ClusterSettings, NetworkSettings
from distlab.errors import LabError, UsageError
from distlab.net import netns_kernel
from distlab.net.netns import NO_NETEM

ROOT = Path(__file__).resolve().parents[1]
NETNS = NetworkSettings(backend="netns")


def netns_echo(**overrides: object) -> ClusterSettings:
    """Echo nodes that listen on their own address and list peers by address."""
    base = echo_settings("--host {host}", peer_format="{id}={host}:{port}")
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def tcp_expected(cut: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """A TCP probe (connect + echo) needs both directions of the pair."""
    return {(a, b) for a, b in MESH if (a, b) not in cut and (b, a) not in cut}


@pytest.fixture(scope="module")
def five(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if netns_kernel.unusable_reason():
        pytest.fail(f"netns tests need root: {netns_kernel.unusable_reason()}")
    run_dir = tmp_path_factory.mktemp("netns5")
    with Cluster(netns_echo(nodes=5), run_dir, network=NETNS) as cluster:
        yield cluster


def test_nodes_listen_on_their_own_addresses(five: Cluster) -> None:
    addresses = {five.host_address(i)[0] for i in IDS}
    assert len(addresses) == 5 and all(a.startswith("10.77.0.") for a in addresses)
    # The client door is on loopback; the node answers from inside its namespace.
    assert five.client_address("n2")[0] == "127.0.0.1"
    assert ask(five.client_address("n2"), "ID") == "n2"


def test_healthy_lab_connects_every_pair_over_tcp_and_udp(five: Cluster) -> None:
    assert reachable(five) == MESH
    assert directed_reach(five, until=MESH, send="UGOSSIP", heard_verb="UHEARD") == MESH


@pytest.mark.parametrize("name", sorted(EXPECTED_CUT))
def test_every_shape_cuts_exactly_its_flows_tcp_and_udp(five: Cluster, name: str) -> None:
    assert five.net is not None
    kw, cut = EXPECTED_CUT[name]
    five.net.partition_shape(name, IDS, **kw)
    try:
        tcp = reachable(five)
        udp = directed_reach(five, until=MESH - cut, send="UGOSSIP", heard_verb="UHEARD")
    finally:
        five.net.heal()
    assert tcp == tcp_expected(cut)
    assert udp == MESH - cut  # datagrams are one-way: directional cuts show as they are
    assert wait_for(lambda: reachable(five) == MESH)


def test_udp_gossip_is_cut_one_way_and_healed(five: Cluster) -> None:
    assert five.net is not None
    five.net.cut("n1", "n2")
    try:
        heard = directed_reach(
            five, until=MESH - {("n1", "n2")}, send="UGOSSIP", heard_verb="UHEARD"
        )
    finally:
        five.net.heal()
    assert ("n1", "n2") not in heard and ("n2", "n1") in heard
    assert directed_reach(five, until=MESH, send="UGOSSIP", heard_verb="UHEARD") == MESH


def test_reject_mode_refuses_at_once(five: Cluster) -> None:
    assert five.net is not None
    five.net.partition([["n1", "n2"], ["n3", "n4", "n5"]], mode="reject")
    try:
        start = time.monotonic()
        answer = json.loads(ask(five.client_address("n1"), "PROBEALL 3000"))
        took = time.monotonic() - start
    finally:
        five.net.heal()
    assert answer == {"n2": True, "n3": False, "n4": False, "n5": False}
    assert took < 2.5, "a reset answers before the 3 s probe timeout; a drop would not"


def test_loss_and_bandwidth_are_kernel_rules(five: Cluster) -> None:
    assert five.net is not None and five.hosts is not None
    five.net.loss([("n1", "n2")], 0.25)
    five.net.bandwidth([("n3", "n4")], 800)
    try:
        rules = five.hosts.lab.namespace("n2").run(["nft", "list", "table", "inet", "distlab"])
        qdiscs = five.hosts.lab.namespace("n3").run(["tc", "class", "show", "dev", "eth0"])
    finally:
        five.net.heal()
    assert "ip saddr 10.77.0.11" in rules and "numgen random mod 10000 < 2500 drop" in rules
    assert "rate 800Kbit" in qdiscs
    after = five.hosts.lab.namespace("n3").run(["tc", "class", "show", "dev", "eth0"])
    assert "800Kbit" not in after


def test_latency_is_a_one_line_error_without_netem(five: Cluster) -> None:
    assert five.net is not None
    if netns_kernel.netem_available():
        five.net.latency([("n1", "n2")], 200)
        try:
            start = time.monotonic()
            assert ask(five.client_address("n1"), "PROBE n2 2000") == "OK n2"
            assert time.monotonic() - start >= 0.2
        finally:
            five.net.heal()
        return
    with pytest.raises(UsageError) as error:
        five.net.latency([("n1", "n2")], 200)
    assert str(error.value) == NO_NETEM and "\n" not in NO_NETEM
    assert five.net.state()["faults"] == {}  # nothing half-applied
    assert reachable(five) == MESH


def _root_view() -> dict[str, str]:
    def out(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout

    return {
        "ip link": out("ip", "-o", "link"),
        "ip route": out("ip", "route"),
        "ip -6 route": out("ip", "-6", "route"),
        "nft list ruleset": out("nft", "list", "ruleset"),
    }


def test_root_namespace_is_untouched_and_the_lab_is_gone_after_a_run(tmp_path: Path) -> None:
    before = _root_view()
    with Cluster(netns_echo(nodes=3), tmp_path, network=NETNS) as cluster:
        assert cluster.net is not None
        cluster.net.partition_shape("isolate", node="n1")
        cluster.net.bandwidth([("n2", "n3")], 500)
        assert _root_view() == before  # during the run too
        assert cluster.hosts is not None
        ours = {os.stat(ns.path).st_ino for ns in cluster.hosts.lab.spaces.values()}
        assert len(ours) == 4 and ours <= _netns_inodes()
    assert _root_view() == before
    # Teardown freed the namespaces themselves (and with them veths, bridge, rules).
    assert wait_for(lambda: not (ours & _netns_inodes()), deadline_s=10)


def _netns_inodes() -> set[int]:
    own = os.stat("/proc/self/ns/net").st_ino
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                found.add(os.stat(f"/proc/{pid}/ns/net").st_ino)
            except OSError:
                continue
    return found - {own}


OWNER = """
import sys, time
sys.path.insert(0, {tests!r})
from pathlib import Path
from cluster_helpers import echo_settings
from test_netns import netns_echo, NETNS
from distlab.cluster import Cluster
c = Cluster(netns_echo(nodes=3), Path({run_dir!r}), network=NETNS)
c.start()
c.net.partition_shape("isolate", node="n1")
print(" ".join(c.hosts.lab.spaces[k].path for k in c.hosts.lab.spaces), flush=True)
time.sleep(600)
"""


def test_sigkilled_owner_leaves_no_namespace(tmp_path: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER.format(tests=str(ROOT / "tests"), run_dir=str(tmp_path))],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert owner.stdout is not None
        paths = owner.stdout.readline().split()
        assert len(paths) == 4, "the bridge and three nodes"
        ours = {os.stat(p).st_ino for p in paths}
        assert ours <= _netns_inodes()
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    # The guardian kills the holders and nodes; the kernel frees each namespace
    # (veths, bridge, rules) with its last process.
    assert wait_for(lambda: not (ours & _netns_inodes()), deadline_s=10), "a namespace leaked"


NOBODY = """
from pathlib import Path
import sys
import tempfile
sys.path.insert(0, {tests!r})
from test_netns import netns_echo, NETNS
from distlab.cluster import Cluster
from distlab.errors import LabError
try:
    Cluster(netns_echo(nodes=2), Path({run_dir!r}), network=NETNS).start()
except LabError as e:
    print(e)
"""


def test_without_net_admin_a_netns_run_fails_with_one_line() -> None:
    # pytest's own tmp dirs are root's alone; nobody needs one it can write.
    run_dir = Path(tempfile.mkdtemp(prefix="distlab-nobody-"))
    run_dir.chmod(0o777)
    try:
        done = _as_nobody(run_dir)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    assert done.stderr == ""
    assert done.stdout.strip().splitlines() == [
        'netns mode needs root or CAP_NET_ADMIN; run as root or use [network] backend = "proxy"'
    ]


def _as_nobody(run_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"),
            *(sys.executable, "-c", NOBODY.format(tests=str(ROOT / "tests"), run_dir=str(run_dir))),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_a_missing_node_address_is_a_usage_error(five: Cluster) -> None:
    assert five.net is not None
    with pytest.raises(UsageError, match="unknown node 'n9'"):
        five.net.cut("n1", "n9")
    with pytest.raises(LabError, match=r"not known|unknown"):
        five["n9"]


def test_reset_kills_the_live_connections_of_a_flow(five: Cluster) -> None:
    assert five.net is not None
    assert ask(five.client_address("n1"), "PING n2 2000") == "OK n2"  # one kept-open connection
    assert five.net.reset([("n1", "n2")]) >= 1
    assert ask(five.client_address("n1"), "PING n2 2000").startswith("FAIL n2")
    assert ask(five.client_address("n1"), "PING n2 2000") == "OK n2"  # new connections work
