"""Network namespaces held by processes, and running commands inside them.

A namespace here has no name in ``/var/run/netns``: it is held open by one
small process (``unshare --net sleep infinity``) that ``distlab.proc.spawn``
starts, so the guardian and PDEATHSIG kill it with the run. The kernel frees
a namespace -- with its veths, bridge, nftables rules and qdiscs -- when its
last process exits, so a run killed by SIGKILL leaves nothing behind and
there is no mount to forget. Commands run inside with ``nsenter --net=``
(what ``ip netns exec`` does for a named namespace).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from distlab import proc
from distlab.errors import LabError

CLONE_NEWNET = 0x40000000
CAP_NET_ADMIN = 12
TOOLS = ("ip", "nft", "tc", "unshare", "nsenter")
_libc = ctypes.CDLL("libc.so.6", use_errno=True) if os.name == "posix" else None


def missing_tools() -> list[str]:
    """The programs netns mode needs that are not on PATH."""
    return [t for t in TOOLS if shutil.which(t) is None]


def has_net_admin() -> bool:
    """True when this process may make namespaces and links (root or CAP_NET_ADMIN)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except (OSError, ValueError):
        pass
    return False


def unusable_reason() -> str | None:
    """Why netns mode cannot run here (one line), or None when it can."""
    if not has_net_admin():
        return (
            'netns mode needs root or CAP_NET_ADMIN; run as root or use [network] backend = "proxy"'
        )
    missing = missing_tools()
    if missing:
        return (
            f"netns mode needs {', '.join(missing)} on PATH "
            "(Debian: apt-get install iproute2 nftables util-linux)"
        )
    return None


@functools.cache
def netem_available() -> bool:
    """Whether the kernel has sch_netem (latency and jitter), tried in a throwaway namespace."""
    if unusable_reason() is not None:
        return False
    done = subprocess.run(
        ["unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
        capture_output=True,
        timeout=10,
    )
    return done.returncode == 0


class Namespace:
    """One network namespace, alive as long as its holder process."""

    def __init__(self, label: str, run_dir: Path) -> None:
        self.label = label
        try:
            self._holder = proc.spawn(
                ["unshare", "--net", "sleep", "infinity"],
                run_dir=run_dir,
                label=f"netns:{label}",
            )
        except OSError as e:
            raise LabError(f"cannot make network namespace {label}: {e}") from None
        self.path = f"/proc/{self._holder.pid}/ns/net"
        self._wait_entered()

    @property
    def pid(self) -> int:
        """The holder's pid (``ip link ... netns PID`` moves a link here)."""
        return self._holder.pid

    def _wait_entered(self) -> None:
        # unshare switches namespace before it execs sleep; until then the path
        # still names the parent's (root) namespace, which we must never touch.
        own = os.stat("/proc/self/ns/net").st_ino
        for _ in range(2000):
            if self._holder.poll() is not None:
                raise LabError(f"cannot make network namespace {self.label}: unshare exited")
            try:
                if os.stat(self.path).st_ino != own and _comm(self.pid) == "sleep":
                    return
            except OSError:
                pass
            time.sleep(0.002)
        raise LabError(f"network namespace {self.label} did not appear")

    def argv(self, command: Sequence[str]) -> list[str]:
        """``command`` run inside this namespace."""
        return ["nsenter", f"--net={self.path}", "--", *command]

    def run(self, command: Sequence[str], stdin: str | None = None) -> str:
        """Run ``command`` inside; its stdout, or LabError with its first error line."""
        done = subprocess.run(
            self.argv(command), input=stdin, capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            err = (done.stderr.strip() or done.stdout.strip() or "failed").splitlines()[0]
            raise LabError(f"netns {self.label}: {' '.join(command[:4])}: {err}")
        return done.stdout

    def alive(self) -> bool:
        return self._holder.poll() is None

    def close(self) -> None:
        """Kill the holder; the kernel frees the namespace once nothing else is in it."""
        proc.kill_group(self._holder)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._holder.wait(timeout=5)
        proc.release(self._holder)


def _comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


@contextlib.contextmanager
def entered(ns_path: str) -> Iterator[None]:
    """Move the calling thread into ``ns_path``'s network namespace, and back after.

    Sockets keep the namespace they were made in, so a socket made inside
    this block reaches that namespace's addresses from any thread later.
    """
    if _libc is None:  # pragma: no cover - Linux only
        raise LabError("network namespaces need Linux")
    with open("/proc/thread-self/ns/net", "rb") as home, open(ns_path, "rb") as target:
        if _libc.setns(target.fileno(), CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise LabError(f"cannot enter {ns_path}: {os.strerror(err)}")
        try:
            yield
        finally:
            if _libc.setns(home.fileno(), CLONE_NEWNET) != 0:  # pragma: no cover
                # A thread stuck in the lab's namespace would send later traffic there.
                os.abort()


def socket_in(ns_path: str, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A new IPv4 socket that lives in ``ns_path``'s network namespace."""
    with entered(ns_path):
        return socket.socket(socket.AF_INET, kind)


def tcp_ok_in(ns_path: str, address: tuple[str, int], timeout_s: float = 0.5) -> bool:
    """A TCP connect from inside ``ns_path`` to ``address`` succeeds."""
    sock = socket_in(ns_path)
    try:
        sock.settimeout(timeout_s)
        sock.connect(address)
        return True
    except OSError:
        return False
    finally:
        sock.close()
