"""The proxy server process lives and dies with its owner."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from distlab.net import Network
from distlab.proc import kill_group, spawn

OWNER = """
import sys, time
from pathlib import Path
from distlab.net import Network
net = Network.start(Path(sys.argv[1]))
port = net.add_link("n1", "n2", ("127.0.0.1", 9))
print(net.backend.pid, port, flush=True)
time.sleep(60)
"""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int, deadline_s: float = 10.0) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.02)
    return False


def listening(port: int) -> bool:
    """Whether anything listens on 127.0.0.1:``port`` (asked of the kernel, not by
    dialling: a dial to a free ephemeral port can connect to itself)."""
    return any(
        c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
        for c in psutil.net_connections(kind="tcp4")
    )


def stops_listening(port: int, deadline_s: float = 10.0) -> bool:
    """Whether ``port`` stops listening within the deadline. The kernel may list a
    dead server's listening socket, owned by no process, for a moment after the
    process is gone (seen about 1 run in 3 on an idle machine)."""
    deadline = time.monotonic() + deadline_s
    while listening(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_sigkill_of_the_owner_takes_the_proxy_server_with_it(tmp_path: Path) -> None:
    owner = spawn(
        [sys.executable, "-c", OWNER, str(tmp_path)], run_dir=tmp_path, stdout=subprocess.PIPE
    )
    try:
        assert owner.stdout is not None
        proxy_pid, port = (int(x) for x in owner.stdout.readline().split())
        assert psutil.pid_exists(proxy_pid) and listening(port)
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
        assert wait_gone(proxy_pid), "the proxy server outlived its owner"
        assert stops_listening(port), "the proxy's port still listens 10 s after its server died"
    finally:
        if owner.poll() is None:
            kill_group(owner)
            owner.wait(timeout=10)


def test_close_stops_the_server_and_frees_the_ports(tmp_path: Path) -> None:
    net = Network.start(tmp_path)
    port = net.add_link("n1", "n2", ("127.0.0.1", 9))
    pid = net.backend.pid  # type: ignore[attr-defined]
    assert pid is not None and not gone(pid) and listening(port)
    net.close()
    net.close()  # idempotent
    assert wait_gone(pid)
    assert stops_listening(port)
    assert (tmp_path / "pids").read_text().split()[0] == str(pid)  # recorded for reaping


def test_a_network_started_from_a_short_lived_thread_outlives_it(tmp_path: Path) -> None:
    # prctl(2) documents PR_SET_PDEATHSIG as firing when the forking *thread*
    # ends; distlab.proc.spawn forks on its own long-lived spawner thread.
    started: dict[str, object] = {}

    def start() -> None:
        started["net"] = Network.start(tmp_path)
        started["tid"] = threading.get_native_id()

    worker = threading.Thread(target=start)
    worker.start()
    worker.join()
    net = started["net"]
    assert isinstance(net, Network)
    try:
        # Wait until the kernel has really ended the thread: that is when
        # PR_SET_PDEATHSIG would fire for a child it forked.
        deadline = time.monotonic() + 10
        while Path(f"/proc/self/task/{started['tid']}").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        pid = net.backend.pid  # type: ignore[attr-defined]
        assert net.add_link("n1", "n2", ("127.0.0.1", 9)) > 0  # the server still answers
        assert not gone(pid)
    finally:
        net.close()
