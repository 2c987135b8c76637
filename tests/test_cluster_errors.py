"""Bad input to the cluster: one-line errors, and whatever started is cleaned up."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import echo_settings, wait_for

from distlab import proc
from distlab.cluster import Cluster
from distlab.errors import LabError, UsageError


@pytest.fixture
def nothing_left() -> Iterator[None]:
    """Fails the test if a process group it spawned is still alive at the end."""
    before = proc.spawned_groups()
    yield
    assert proc.leaked(proc.spawned_groups() - before) == []


def one_line(message: str) -> str:
    assert "\n" not in message
    return message


def test_a_node_that_exits_at_once_names_its_exit_code_and_log(
    tmp_path: Path, nothing_left: None
) -> None:
    settings = echo_settings("--exit-code 3", nodes=3)
    with pytest.raises(LabError) as e, Cluster(settings, tmp_path):
        pass
    message = one_line(e.value.message)
    assert "exited with code 3 before it was healthy" in message
    assert "told to exit with 3" in message  # the node's own last log line
    assert ".log" in message


def test_a_node_that_never_becomes_healthy_is_killed_after_the_start_timeout(
    tmp_path: Path, nothing_left: None
) -> None:
    command = "{python} -c \"print('booting {id}', flush=True); import time; time.sleep(60)\""
    settings = echo_settings(nodes=2, command=command, start_timeout_s=0.5)
    with pytest.raises(LabError) as e, Cluster(settings, tmp_path, direct=True):
        pass
    message = one_line(e.value.message)
    assert message.startswith("node n1 was not healthy after 0.5 s (tcp connect to 127.0.0.1:")
    assert "booting n1" in message


def test_a_port_already_taken_is_named(tmp_path: Path, nothing_left: None) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with pytest.raises(LabError) as e:
            Cluster(echo_settings(nodes=2), tmp_path, base_port=taken).start()
    assert one_line(e.value.message) == (
        f"port {taken} on 127.0.0.1 is already taken (node n1 client port); "
        "stop what holds it or choose another base port"
    )


def test_a_port_taken_after_it_was_chosen_fails_the_node_with_its_log(
    tmp_path: Path, nothing_left: None
) -> None:
    # Someone grabs the port between our check and the node's bind: the node's own
    # error ("address already in use") is in the message.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        command = echo_settings().command.replace("--port {port}", f"--port {taken}")
        settings = echo_settings(nodes=1, command=command, health_check="none")
        with Cluster(settings, tmp_path, direct=True) as c:
            # health "none" says up at once; the node dies on its bind and is seen crashing.
            node = c["n1"]
            assert wait_for(lambda: node.poll() == "crashed")
            assert node.state == "crashed" and node.exit_code == 1
            assert "address already in use" in node.log_tail().lower()


def test_a_probe_answered_by_someone_else_is_not_taken_for_health(
    tmp_path: Path, nothing_left: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The port looked free when chosen, then another program listened on it first:
    # the TCP probe connects, but to the wrong process.
    monkeypatch.setattr("distlab.cluster.ports.port_is_free", lambda port: True)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with pytest.raises(LabError) as e:
            Cluster(echo_settings(nodes=1), tmp_path, direct=True, base_port=taken).start()
    message = one_line(e.value.message)
    # Usually the probe wins the race and meets the foreign listener; on a slow machine
    # the node may die on its bind first. Either way it is not called healthy.
    assert message.startswith(
        f"port {taken} on 127.0.0.1 is taken by another process, so node n1 cannot listen on it"
    ) or ("exited with code 1" in message and "address already in use" in message.lower())


def test_an_unknown_node_id_is_one_line(tmp_path: Path) -> None:
    with Cluster(echo_settings(nodes=2), tmp_path, direct=True) as c:
        with pytest.raises(LabError) as e:
            c["n7"]
        assert e.value.message == "unknown node 'n7'; this cluster has n1..n2"
        c["n2"].kill()
        with pytest.raises(LabError, match="node n2 is down; only a running node can pause"):
            c["n2"].pause()
        with pytest.raises(LabError, match="only a paused node can resume"):
            c["n1"].resume()


@pytest.mark.parametrize("count", [0, 65, "3"])
def test_node_counts_outside_1_to_64_are_refused(tmp_path: Path, count: object) -> None:
    with pytest.raises(UsageError, match="nodes must be a whole number from 1 to 64"):
        Cluster(echo_settings(), tmp_path, nodes=count)  # type: ignore[arg-type]


def test_a_command_that_cannot_run(tmp_path: Path, nothing_left: None) -> None:
    settings = echo_settings(nodes=2, command="/no/such/binary --id {id}")
    with pytest.raises(LabError, match=r"node n1: cannot run '/no/such/binary': No such file"):
        Cluster(settings, tmp_path).start()


def test_the_cli_exits_3_with_the_nodes_last_log_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "[project]\nrun_dir = 'runs'\n[cluster]\nnodes = 2\n"
        f"command = '''{echo_settings('--exit-code 5').command}'''\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "distlab.cli.main", "cluster", "up", "--config", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "exited with code 5 before it was healthy" in lines[0]
    assert "told to exit with 5" in lines[0]
