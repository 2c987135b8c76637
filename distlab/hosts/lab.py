"""The hosts of one cluster: which node runs where, and the lab view the fault backend uses.

``HostsLab`` has the shape ``NetnsBackend`` needs (``nodes``, ``address``,
``namespace(owner).run``), so network faults on SSH hosts are the very same
nftables rules as in netns mode, loaded on each host over SSH.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from distlab.config.schema import HostsSettings
from distlab.errors import UsageError
from distlab.hosts.ssh import SshHost, Target
from distlab.net.netns_rules import TABLE


def assign(nodes: Sequence[str], settings: HostsSettings) -> dict[str, Target]:
    """Each node's target: ``[hosts] assign`` first, the rest round-robin over ``targets``."""
    targets = [Target.parse(t) for t in settings.targets]
    if not targets:
        raise UsageError("[hosts] targets is empty; name at least one SSH target")
    by_text = {t.text: t for t in targets}
    out: dict[str, Target] = {}
    for node, text in settings.assign.items():
        if node not in nodes:
            raise UsageError(
                f"[hosts] assign: {node!r} is not a node; nodes are {', '.join(nodes)}"
            )
        if text not in by_text:
            raise UsageError(f"[hosts] assign: {node} = {text!r} is not one of [hosts] targets")
        out[node] = by_text[text]
    rest = [n for n in nodes if n not in out]
    for i, node in enumerate(rest):
        out[node] = targets[i % len(targets)]
    return {n: out[n] for n in nodes}


@dataclass(frozen=True)
class RemoteNode:
    """How ``Node`` starts and signals a node that runs on an SSH host."""

    host: SshHost
    data_dir: str
    env: dict[str, str]
    cwd: str

    def argv(self, argv: Sequence[str]) -> list[str]:
        return self.host.argv(self.host.node_line(argv, self.data_dir, self.env, self.cwd))

    def signal(self, sig: str) -> None:
        self.host.shell(self.host.signal_line(self.data_dir, sig))


class HostsLab:
    """SSH connections to the cluster's hosts; sweeps leftovers on start and on close."""

    # A host's egress device is its own business: bandwidth over SSH is not shaped.
    can_shape = False

    def __init__(self, nodes: list[str], settings: HostsSettings, state_dir: Path) -> None:
        self.nodes = list(nodes)
        self.placement = assign(self.nodes, settings)
        state_dir.mkdir(parents=True, exist_ok=True)
        self._hosts: dict[str, SshHost] = {}
        for target in dict.fromkeys(self.placement.values()):
            self._hosts[target.text] = SshHost(
                target,
                identity=settings.identity,
                ssh=settings.ssh,
                work_dir=settings.work_dir,
                state_dir=state_dir,
            )
        self.address = {n: t.host for n, t in self.placement.items()}
        # What a dead control node left: its nodes, and its fault table. Hosts side by
        # side: the first call to each one opens its master connection (a handshake).
        try:
            with ThreadPoolExecutor(max_workers=len(self._hosts)) as pool:
                list(pool.map(_clean, self._hosts.values()))
        except BaseException:
            for host in self._hosts.values():
                host.close_master()
            raise

    def host(self, node: str) -> SshHost:
        return self._hosts[self.placement[node].text]

    def remote(self, node: str, data_dir: str, env: dict[str, str], cwd: str) -> RemoteNode:
        """The start/signal seam of one node. Only the config's variables travel, not ours."""
        own = {k: v for k, v in env.items() if os.environ.get(k) != v}
        return RemoteNode(self.host(node), data_dir, own, cwd)

    def data_dir(self, node: str, cluster: str) -> str:
        return f"{self.host(node).work}/{cluster}/{node}"

    def namespace(self, owner: str) -> SshHost:
        """Where ``owner``'s fault rules go: its host, which it must have to itself."""
        target = self.placement.get(owner)
        if target is None:
            raise UsageError(f"[hosts]: {owner!r} has no host; faults over SSH are between nodes")
        shared = [n for n, t in self.placement.items() if t == target]
        if len(shared) > 1:
            raise UsageError(
                f"network faults over SSH need one node per host; {', '.join(shared)} "
                f"share {target.text}"
            )
        return self._hosts[target.text]

    def close(self) -> None:
        """Delete the fault table, kill what is left, close the connections."""

        def close_one(host: SshHost) -> None:
            try:
                host.shell(f"nft delete table inet {TABLE} 2>/dev/null; true")
            finally:
                host.close()

        with ThreadPoolExecutor(max_workers=len(self._hosts)) as pool:
            list(pool.map(close_one, self._hosts.values()))


def _clean(host: SshHost) -> None:
    host.connect()
    host.sweep()
    host.shell(f"nft delete table inet {TABLE} 2>/dev/null; true")
