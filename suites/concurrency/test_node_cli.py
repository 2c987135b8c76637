"""The node process's own contract: bad arguments and unknown bug names are one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.concurrency

GOOD = ["--id", "n1", "--port", "7301", "--peer-port", "7302", "--data-dir", "unused"]


def run_node(args: list[str], bugs: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REFSYS_BUGS": bugs}
    return subprocess.run(
        [sys.executable, "-m", "reference_system.node", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    "args, bugs, says",
    [
        (GOOD, "stale-read,no-such-bug", "REFSYS_BUGS: unknown bug 'no-such-bug'; known:"),
        (
            [*GOOD[:2], "--port", "http", *GOOD[4:]],
            "",
            "--port must be a port number from 1 to 65535, got 'http'",
        ),
        ([*GOOD, "--peers", "n2@127.0.0.1"], "", "--peers: bad entry 'n2@127.0.0.1'"),
        (GOOD[:4], "", "the following arguments are required: --peer-port, --data-dir"),
        (
            [*GOOD, "--request-timeout", "0"],
            "",
            "--request-timeout must be from 0.05 to 600 seconds, got '0'",
        ),
        ([*GOOD, "--request-timeout", "soon"], "", "--request-timeout must be numbers"),
    ],
)
def test_a_bad_start_is_one_line_on_stderr_and_exit_2(tmp_path, args, bugs, says):
    done = run_node([a if a != "unused" else str(tmp_path / "d") for a in args], bugs)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("reference_system.node: ")
    assert says in lines[0]
    assert "Traceback" not in done.stderr


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            peer_port = free.getsockname()[1]
        args = [
            "--id",
            "n1",
            "--port",
            str(port),
            "--peer-port",
            str(peer_port),
            "--data-dir",
            str(tmp_path),
        ]
        done = run_node(args)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "INFO" not in line]
    assert len(errors) == 1 and "cannot listen" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
