"""One SSH target: run a command there, start a node there, signal it, sweep what we left.

Every call is the system's OpenSSH client with ``BatchMode`` (never a
prompt), one multiplexed master connection per target (``ControlMaster``,
its socket in a short temp dir) and the run's own known-hosts file. What a
node start runs on the host is a small ``sh`` line that records the node's
pid and kernel start time in ``WORK/<address>/started`` before it execs the
node (sshd made it a session and group leader, so its pid is its group), so
teardown -- and the next start, if this control node died -- can kill
exactly what distlab started there and nothing else.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from distlab import proc
from distlab.errors import LabError, UsageError

CALL_TIMEOUT_S = 30.0
_TARGET = re.compile(
    r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9.:_-]+?)(?::(?P<port>\d+))?$"
)

# Kill every group recorded in FILE whose leader still has its recorded start time,
# then forget the file. Field 22 of /proc/PID/stat is the start time (after the comm).
_SWEEP = (
    'f={file}; [ -f "$f" ] || exit 0; '
    "while read pid start; do "
    '  now=$(sed "s/.*) //" /proc/$pid/stat 2>/dev/null | cut -d" " -f20); '
    '  [ "$now" = "$start" ] && kill -KILL -- -$pid 2>/dev/null; '
    'done < "$f"; rm -f "$f"'
)


@dataclass(frozen=True)
class Target:
    """``user@host:port`` as written in ``[hosts] targets``."""

    text: str
    user: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Target:
        m = _TARGET.match(text.strip())
        if not m:
            raise UsageError(f'[hosts] targets: {text!r} is not "user@host" or "user@host:port"')
        port = int(m["port"] or 22)
        if not 0 < port < 65536:
            raise UsageError(f"[hosts] targets: {text!r}: port must be from 1 to 65535")
        return cls(text, m["user"] or "", m["host"], port)


class SshHost:
    """Commands on one target over a multiplexed OpenSSH connection."""

    def __init__(
        self, target: Target, *, identity: str, ssh: Sequence[str], work_dir: str, state_dir: Path
    ) -> None:
        self.target = target
        self.work = f"{work_dir.rstrip('/')}/{target.host}"
        self.record = f"{self.work}/started"
        self._mux = tempfile.mkdtemp(prefix="dl-ssh-")  # a socket path must stay short
        self._socket = Path(self._mux) / "m"
        self._log = state_dir / f"ssh-{target.host}.log"
        self._master: subprocess.Popen[bytes] | None = None
        options = [
            "-o", "BatchMode=yes",
            "-o", f"ControlPath={self._socket}",
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"UserKnownHostsFile={state_dir / 'known_hosts'}",
            "-o", "ConnectTimeout=10",
            "-o", "ServerAliveInterval=5",
            "-p", str(target.port),
        ]  # fmt: skip
        if identity:
            options += ["-i", identity, "-o", "IdentitiesOnly=yes"]
        self._login = f"{target.user}@{target.host}" if target.user else target.host
        self._ssh = [*(ssh or ["ssh"]), *options]
        self._argv = [*self._ssh, "-o", "ControlMaster=no", self._login, "--"]

    def connect(self) -> None:
        """Open the master connection as a child of ours (``distlab.proc``), so the
        guardian ends it, and with it every session, when this control node dies."""
        argv = [*self._ssh, "-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-N", self._login]
        with open(self._log, "ab") as log:
            self._master = proc.spawn(argv, stdout=log, label=f"ssh:{self.target.text}")
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while not self._socket.exists():
            if self._master.poll() is not None or time.monotonic() > deadline:
                tail = self._log.read_text(errors="replace").strip().splitlines()[-1:] or [
                    "no output"
                ]
                self.close_master()
                raise LabError(f"host {self.target.text}: cannot connect over SSH: {tail[0]}")
            time.sleep(0.02)

    def close_master(self) -> None:
        if self._master is not None:
            proc.stop_group(self._master, 2.0)
            self._master = None
        shutil.rmtree(self._mux, ignore_errors=True)

    def argv(self, remote: str) -> list[str]:
        """The local argv that runs the shell line ``remote`` on the host."""
        return [*self._argv, remote]

    def run(self, command: Sequence[str], stdin: str | None = None) -> str:
        """Run ``command`` there; its stdout, or a one-line LabError naming the target."""
        return self.shell(shlex.join(command), stdin)

    def shell(self, line: str, stdin: str | None = None) -> str:
        try:
            done = subprocess.run(
                self.argv(line), input=stdin, capture_output=True, text=True, timeout=CALL_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            raise LabError(f"host {self.target.text}: no answer in {CALL_TIMEOUT_S:g} s") from None
        if done.returncode != 0:
            err = (done.stderr.strip() or done.stdout.strip() or "failed").splitlines()[-1]
            raise LabError(f"host {self.target.text}: {line[:60]}: {err}")
        return done.stdout

    def node_line(self, argv: Sequence[str], data_dir: str, env: dict[str, str], cwd: str) -> str:
        """The shell line that records itself and becomes the node (its pid is its group).

        It runs in ``cwd`` when the host has that directory (a checkout at the same
        path), else in the data dir."""
        record = shlex.quote(self.record)
        data = shlex.quote(data_dir)
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
        return (
            f"mkdir -p {shlex.quote(self.work)} {data} && echo $$ > {data}/.distlab-pid && "
            f'echo "$$ $(sed "s/.*) //" /proc/$$/stat | cut -d" " -f20)" >> {record} && '
            f"{{ cd {shlex.quote(cwd)} 2>/dev/null || cd {data}; }} && "
            f"exec env {exports} {shlex.join(argv)}"
        )

    def signal_line(self, data_dir: str, sig: str) -> str:
        """Signal the group of the node whose pid file is in ``data_dir``."""
        return f"kill -{sig} -- -$(cat {shlex.quote(data_dir)}/.distlab-pid) 2>/dev/null; true"

    def sweep(self) -> None:
        """Kill every group distlab recorded on this host that still runs; forget them."""
        self.shell(_SWEEP.format(file=shlex.quote(self.record)))

    def close(self) -> None:
        """Sweep, then stop the master connection and forget its socket dir."""
        try:
            if self._master is not None:
                self.sweep()
        finally:
            self.close_master()
