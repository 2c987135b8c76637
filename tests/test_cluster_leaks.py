"""Nothing outlives its owner: SIGKILL of the owning process, Ctrl-C and SIGTERM of
`distlab cluster up`, the session leak check, and orphan reaping on the next run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from cluster_helpers import ECHO_NODE, echo_settings

from distlab import proc

HERE = Path(__file__).parent

OWNER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    sys.path.insert(0, {here!r})
    from cluster_helpers import ask, echo_settings
    from distlab import proc
    from distlab.cluster import Cluster
    from distlab.config.schema import NetworkSettings

    cluster = Cluster(echo_settings("--spawn-child", nodes=3), Path({run_dir!r}),
                      network=NetworkSettings(proxy_process=True))
    cluster.start()
    pids = {{"nodes": [n.pid for n in cluster],
            "children": [int(ask(cluster.client_address(n.id), "CHILD")) for n in cluster],
            "proxy": [cluster.net.backend.pid],
            "guardian": [proc.guardian_pid()]}}
    print(json.dumps(pids), flush=True)
    time.sleep(600)
    """
)

# Run in a fresh interpreter: which of these (pid, start time) pairs still run after a deadline?
SURVIVORS = textwrap.dedent(
    """
    import json, sys, time, psutil
    wanted = json.loads(sys.argv[1])
    def alive():
        out = []
        for pid, created in wanted:
            try:
                p = psutil.Process(pid)
                if abs(p.create_time() - created) < 0.01 and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(pid)
            except psutil.Error:
                pass
        return out
    deadline = time.monotonic() + 5
    while alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    print(json.dumps(alive()))
    """
)


def identities(pids: list[int]) -> list[tuple[int, float]]:
    return [(pid, psutil.Process(pid).create_time()) for pid in pids]


def survivors(pids: list[tuple[int, float]]) -> list[int]:
    """Asked from a fresh process, as a user checking `ps` afterwards would."""
    done = subprocess.run(
        [sys.executable, "-c", SURVIVORS, json.dumps(pids)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def read_line(child: subprocess.Popen[bytes], deadline_s: float = 30) -> str:
    assert child.stdout is not None
    os.set_blocking(child.stdout.fileno(), True)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        line = child.stdout.readline().decode()
        if line.strip():
            return line
        if child.poll() is not None:
            break
    raise AssertionError(f"no line from the owner (exit {child.poll()})")


def test_sigkill_of_the_owner_leaves_no_node_child_or_proxy(tmp_path: Path) -> None:
    owner = proc.spawn(
        [sys.executable, "-c", OWNER.format(here=str(HERE), run_dir=str(tmp_path))],
        stdout=subprocess.PIPE, stderr=None, label="cluster-owner",
    )  # fmt: skip
    try:
        pids = json.loads(read_line(owner))
        everything = [pid for group in pids.values() for pid in group]
        assert len(everything) == 8 and all(psutil.pid_exists(p) for p in everything)
        known = identities(everything)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
        # Nodes die by PDEATHSIG; their `sleep` children (no death signal, same group)
        # only by the guardian; the guardian exits once its work is done.
        assert survivors(known) == []
    finally:
        proc.kill_group(owner)
        owner.wait()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cluster_up_cleans_up_on_ctrl_c_and_sigterm(tmp_path: Path, sig: int) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f"[project]\nrun_dir = 'runs'\n[cluster]\nnodes = 2\ncommand = '''{echo_settings().command}'''\n"
    )
    up = proc.spawn(
        [sys.executable, "-m", "distlab.cli.main", "cluster", "up", "--config", str(config)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, label="cluster-up",
    )  # fmt: skip
    try:
        lines = []
        while not lines or not lines[-1].startswith("ready"):
            lines.append(read_line(up))
        node_pids = [int(line.split()[1]) for line in lines if line.startswith(("n1 ", "n2 "))]
        assert len(node_pids) == 2
        known = identities(node_pids)
        os.kill(up.pid, sig)
        out, _ = up.communicate(timeout=30)
        assert up.returncode == 0, out
        assert "stopped; nothing left running" in out.decode()
        assert survivors(known) == []
    finally:
        proc.kill_group(up)
        up.wait()


LEAKY_TEST = textwrap.dedent(
    """
    from distlab import proc

    def test_leaves_a_process_behind():
        proc.spawn(["sleep", "60"], label="forgotten-sleep")
    """
)


def test_the_session_reaps_orphans_at_start_and_fails_on_a_leak_at_the_end(
    tmp_path: Path,
) -> None:
    # An orphan from an "earlier run" whose owner is gone.
    gone = subprocess.Popen(["true"])
    gone.wait()
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        old_run = tmp_path / ".distlab" / "runs" / "20200101-000000-1"
        old_run.mkdir(parents=True)
        created = psutil.Process(orphan.pid).create_time()
        (old_run / "pids").write_text(f"{orphan.pid} {created:.3f} {gone.pid} orphan-sleep\n")
        (tmp_path / "test_leaky.py").write_text(LEAKY_TEST)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DISTLAB_")}
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_leaky.py"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        out = done.stdout + done.stderr
        assert f"reaped orphan orphan-sleep (pid {orphan.pid})" in out
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert "LEAK CHECK FAILED: 1 process(es)" in out and "forgotten-sleep" in out
        assert done.returncode == 1, out
    finally:
        orphan.kill()
        orphan.wait()


def test_echo_node_is_where_the_helpers_say() -> None:
    assert ECHO_NODE.is_file()
