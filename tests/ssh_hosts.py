"""Three SSH hosts on this machine: sshd in three network namespaces, a throwaway key.

    python tests/ssh_hosts.py [--hosts N] -- COMMAND ... {config} ...

Builds a netns lab (``distlab.net.netns.NetnsLab``) whose "nodes" h1..hN are
the hosts, starts Debian's sshd in each on its own address with a key made
for this run, writes a distlab config whose ``[hosts]`` are those targets
(the reference system's partition tests), and runs COMMAND inside the
bridge namespace -- the control node's seat, from where the hosts' addresses
are reachable -- with ``{config}`` replaced by that config's path. Everything
(sshd, namespaces, what distlab started on the hosts) dies with this script.
Exit code: COMMAND's, or 3 when the hosts could not be set up.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from distlab import proc  # noqa: E402
from distlab.errors import DistlabError  # noqa: E402
from distlab.net.netns import NetnsLab  # noqa: E402
from distlab.net.netns_kernel import tcp_ok_in  # noqa: E402

SSHD = "/usr/sbin/sshd"
SSHD_CONFIG = """\
Port 22
HostKey {dir}/host_key
AuthorizedKeysFile {dir}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
MaxSessions 100
MaxStartups 100
# bash sources ~/.bashrc for a command run by sshd only at shell level 1; this
# machine's root .bashrc runs pyenv init (about 1.5 s a call), which a real test
# host would not. Hosts still run every command through the user's shell.
SetEnv SHLVL=1
"""
CONFIG = """\
# Written by tests/ssh_hosts.py: the reference system's nodes on {n} SSH hosts.
[project]
run_dir = "runs"
reports_dir = "reports"

[cluster]
nodes = 3
command = "{{python}} -m reference_system.node --id {{id}} --host {{host}} --port {{port}} --peer-port {{peer_port}} --peers {{peers}} --data-dir {{data_dir}}"
peer_format = "{{id}}={{host}}:{{port}}"
start_timeout_s = 20.0

[hosts]
targets = [{targets}]
identity = "{dir}/id"
work_dir = "{dir}/hosts"

[suites.distributed]
paths = ["{root}/suites/distributed/test_kv_partitions.py"]
required = true
timeout_s = 600
reruns = 1
# Faults over SSH need one node per host: the 5-node variant would share hosts.
args = ["-k", "not 5-nodes"]

[gates]
"distributed.pass_rate" = "== 1"
"""


def keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "distlab-test", "-f", str(path)],
        check=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = [c for c in args.command if c != "--"]
    if not command:
        parser.error("give the command to run, e.g. -- distlab --ci --config {config}")
    if shutil.which("ssh-keygen") is None or not Path(SSHD).exists():
        print("ssh_hosts: needs openssh-server and openssh-client (apt-get install)", flush=True)
        return 3
    work = Path(tempfile.mkdtemp(prefix="distlab-ssh-hosts-"))
    names = [f"h{i}" for i in range(1, args.hosts + 1)]
    lab: NetnsLab | None = None
    sshds: list[subprocess.Popen[bytes]] = []
    try:
        keygen(work / "id")
        keygen(work / "host_key")
        shutil.copy(work / "id.pub", work / "authorized_keys")
        (work / "sshd_config").write_text(SSHD_CONFIG.format(dir=work))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
        lab = NetnsLab(work, names)
        for name in names:
            argv = [SSHD, "-D", "-e", "-f", str(work / "sshd_config")]
            argv += ["-o", f"ListenAddress={lab.address[name]}"]
            with open(work / f"sshd-{name}.log", "ab") as log:
                sshds.append(proc.spawn(lab.spaces[name].argv(argv), stdout=log, label="sshd"))
        for name in names:
            deadline = time.monotonic() + 15
            while not tcp_ok_in(lab.bridge_path, (lab.address[name], 22)):
                if time.monotonic() > deadline:
                    print(f"ssh_hosts: sshd on {name} did not listen; see {work}", flush=True)
                    return 3
                time.sleep(0.05)
        targets = ", ".join(f'"root@{lab.address[n]}"' for n in names)
        config = work / "config.toml"
        config.write_text(CONFIG.format(n=len(names), targets=targets, dir=work, root=ROOT))
        argv = lab.spaces["bridge"].argv([c.replace("{config}", str(config)) for c in command])
        print(f"ssh_hosts: {len(names)} hosts up ({targets}); running {' '.join(command)}")
        return subprocess.run(argv, cwd=ROOT).returncode
    except DistlabError as e:
        print(f"ssh_hosts: {e}", flush=True)
        return 3
    finally:
        for sshd in sshds:
            proc.stop_group(sshd, 2.0)
        if lab is not None:
            lab.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
