"""`distlab cluster up`: start the configured cluster by hand and keep it running.

Prints every node's addresses (direct, through its client proxy, and the
link proxies its peers dial), then follows node state changes until Ctrl-C
or SIGTERM, and tears everything down. Heavy imports happen inside ``run``.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from typing import Any

from distlab.errors import UsageError

POLL_S = 0.2


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "cluster",
        help="start the configured cluster by hand (distlab cluster up)",
        description="Start the configured cluster by hand and keep it running until Ctrl-C.",
    )
    actions = p.add_subparsers(dest="cluster_action", metavar="ACTION")
    up = actions.add_parser(
        "up",
        help="start the nodes of [cluster], print their addresses, run until Ctrl-C",
        description="Start the nodes of [cluster] with their proxies, print their addresses "
        "and run until Ctrl-C (or SIGTERM); then stop everything.",
    )
    up.add_argument(
        "--nodes", type=int, metavar="N", help="how many nodes (1..64; default [cluster] nodes)"
    )
    up.add_argument(
        "--base-port",
        type=int,
        metavar="PORT",
        help="number node ports from PORT up (default: any free)",
    )
    up.add_argument(
        "--direct", action="store_true", help="no proxies: peers dial each other directly"
    )
    up.add_argument(
        "--for", dest="for_s", type=float, metavar="SECONDS", help="stop by itself after SECONDS"
    )
    from distlab.cli.main import add_global_options  # main is loaded: it is calling us

    add_global_options(up, suppress_defaults=True)
    p.set_defaults(command="cluster")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "cluster_action", None) != "up":
        raise UsageError("say what to do: 'distlab cluster up [--nodes N]'")
    if args.nodes is not None and not 1 <= args.nodes <= 64:
        raise UsageError(f"--nodes must be a whole number from 1 to 64, got {args.nodes}")
    # Bad flags are usage errors (exit 2), found before anything starts.
    if args.base_port is not None and not 1024 <= args.base_port <= 65000:
        raise UsageError(f"--base-port must be from 1024 to 65000, got {args.base_port}")
    if args.for_s is not None and not (math.isfinite(args.for_s) and args.for_s > 0):
        raise UsageError(f"--for must be a number of seconds above 0, got {args.for_s:g}")

    from distlab import proc
    from distlab.cluster import Cluster
    from distlab.config.loader import load
    from distlab.rundir import create_run_dir
    from distlab.seeds import new_root_seed

    config = load(args.config)
    if not config.cluster.command:
        raise UsageError(
            f"{args.config}: [cluster] command is empty; set the command that starts one node"
        )
    seed = args.seed if args.seed is not None else new_root_seed()
    run_dir = create_run_dir(config.project.run_dir, seed, shared=config.project.shared_reports)
    for line in proc.reap_orphans(run_dir.parent):
        print(line, flush=True)
    _sigterm_as_interrupt()
    cluster = Cluster(
        config.cluster,
        run_dir,
        nodes=args.nodes,
        seed=seed,
        network=config.network,
        direct=args.direct,
        base_port=args.base_port,
        name="up",
    )
    try:
        cluster.start()
        _print_addresses(cluster, run_dir)
        _follow(cluster, args.for_s)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        cluster.close()
    left = proc.leaked()
    if left:
        print(f"stopped, but {len(left)} process(es) still run: {'; '.join(left[:3])}", flush=True)
        return 3
    print("stopped; nothing left running", flush=True)
    return 0


def _sigterm_as_interrupt() -> None:
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _print_addresses(cluster: Any, run_dir: Any) -> None:
    print(f"{len(cluster.ids)} nodes up ({cluster.wiring_label()}); run dir {run_dir}")
    print(f"{'node':<5} {'pid':>7}  {'client':<16} {'direct':<16} {'peer port':>9}  log")
    for node in cluster:
        print(
            f"{node.id:<5} {node.pid:>7}  127.0.0.1:{node.port:<6} 127.0.0.1:{node.direct_port:<6} "
            f"{node.peer_port:>9}  {node.log_path}"
        )
    if cluster.link_ports:
        print("peer links (src dials this port to reach dst):")
        for (src, dst), port in sorted(cluster.link_ports.items()):
            print(f"  {src}->{dst} 127.0.0.1:{port}")
    elif not cluster.direct:
        print("ingress proxies (every node dials these to reach the node):")
        for node in cluster:
            print(f"  {node.id} 127.0.0.1:{node.advertise_port}")
    print("ready; press Ctrl-C to stop", flush=True)


def _follow(cluster: Any, for_s: float | None) -> None:
    """Print each node state change until interrupted (or ``for_s`` passes)."""
    seen = cluster.states()
    end = None if for_s is None else time.monotonic() + for_s
    while end is None or time.monotonic() < end:
        time.sleep(POLL_S)
        now = cluster.states()
        for node_id, state in now.items():
            if seen.get(node_id) != state:
                node = cluster[node_id]
                how = f" (exit code {node.exit_code})" if node.exit_code is not None else ""
                how = f" ({node.signal})" if node.signal else how
                print(f"{node_id}: {state}{how}", flush=True)
        seen = now
        sys.stdout.flush()
