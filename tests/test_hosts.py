"""SSH hosts: targets and assignment (pure), and on three sshd hosts in network
namespaces (tests/ssh_hosts.py): nodes start over SSH on their host's address,
and what a control node killed by SIGKILL left on the hosts is killed at the
next start. The partition tests over SSH run in ``make test`` (Makefile)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from distlab.config.schema import HostsSettings
from distlab.errors import UsageError
from distlab.hosts.lab import assign
from distlab.hosts.ssh import Target

ROOT = Path(__file__).resolve().parents[1]
NODES = ["n1", "n2", "n3", "n4"]


def test_targets_parse_with_and_without_user_and_port() -> None:
    assert Target.parse("root@10.0.0.5:2222") == Target(
        "root@10.0.0.5:2222", "root", "10.0.0.5", 2222
    )
    assert Target.parse("db1.example") == Target("db1.example", "", "db1.example", 22)


@pytest.mark.parametrize("text", ["root@", "a b", "root@h:0", "root@h:99999", ""])
def test_a_bad_target_is_a_one_line_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as error:
        Target.parse(text)
    assert "\n" not in str(error.value) and "[hosts] targets" in str(error.value)


def test_nodes_go_round_robin_after_the_explicit_ones() -> None:
    settings = HostsSettings(targets=["a@h1", "a@h2", "a@h3"], assign={"n2": "a@h3"})
    placed = {n: t.host for n, t in assign(NODES, settings).items()}
    assert placed == {"n1": "h1", "n2": "h3", "n3": "h2", "n4": "h3"}


def test_assign_must_name_a_node_and_a_target() -> None:
    with pytest.raises(UsageError, match="'n9' is not a node"):
        assign(NODES, HostsSettings(targets=["a@h1"], assign={"n9": "a@h1"}))
    with pytest.raises(UsageError, match="is not one of"):
        assign(NODES, HostsSettings(targets=["a@h1"], assign={"n1": "a@h2"}))
    with pytest.raises(UsageError, match="targets is empty"):
        assign(NODES, HostsSettings())


# Runs inside the bridge namespace (the control node's seat) with the hosts' config.
DRIVER = r"""
import os, signal, subprocess, sys, time
from pathlib import Path
from distlab.config.loader import load
from distlab.hosts.lab import HostsLab

config = load(sys.argv[1])
CONTROL = '''
import os, signal, sys
from pathlib import Path
from distlab.config.loader import load
from distlab.cluster import Cluster
config = load(sys.argv[1])
c = Cluster(config.cluster, Path(sys.argv[2]), hosts=config.hosts)
c.start()
print(" ".join(f"{n.spec.host}:{Path(n.data_dir, '.distlab-pid').read_text().strip()}" for n in c.nodes), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
'''
run_dir = Path(sys.argv[1]).parent / "control-run"
run_dir.mkdir()
child = subprocess.run([sys.executable, "-c", CONTROL, sys.argv[1], str(run_dir)],
                       capture_output=True, text=True, timeout=120)
placed = child.stdout.split()
print("nodes:", placed)
assert child.returncode == -signal.SIGKILL, child.stderr[-500:]
assert len({p.split(":")[0] for p in placed}) == 3, "one node on each host"
pids = [int(p.split(":")[1]) for p in placed]
alive = [p for p in pids if os.path.exists(f"/proc/{p}")]
print("alive after the control node died:", alive)
assert alive == pids, "the nodes run on their hosts, not under the dead control node"
lab = HostsLab(["n1", "n2", "n3"], config.hosts, run_dir / "ssh2")  # the next start
try:
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{p}") and "zombie" not in open(f"/proc/{p}/status").read().lower()
              for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in pids if os.path.exists(f"/proc/{p}")
            and "zombie" not in open(f"/proc/{p}/status").read().lower()]
    print("left after the next start:", left)
    assert not left
finally:
    lab.close()
print("SWEPT")
"""


def test_what_a_dead_control_node_left_on_the_hosts_dies_at_the_next_start(tmp_path: Path) -> None:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "ssh_hosts.py"),
            "--",
            sys.executable,
            str(driver),
            "{config}",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "SWEPT" in done.stdout


def test_a_host_that_does_not_answer_is_one_line_naming_it(tmp_path: Path) -> None:
    from distlab.errors import LabError
    from distlab.hosts.lab import HostsLab

    # Port 1 on loopback: nothing listens, and no traffic leaves this machine.
    with pytest.raises(LabError) as error:
        HostsLab(["n1"], HostsSettings(targets=["root@127.0.0.1:1"]), tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("host root@127.0.0.1:1: cannot connect over SSH: ")
    assert "refused" in message
