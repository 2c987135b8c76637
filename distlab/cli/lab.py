"""`distlab lab`: start the cluster and a workload; inject faults from the keyboard."""

from __future__ import annotations

import argparse
from typing import Any

from distlab.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "lab",
        help="start the cluster and a workload; inject faults from the keyboard",
        description=(
            "Start the configured cluster and a bounded register workload, then inject faults "
            "from the keyboard (k kill, p pause/resume, r restart, n partition, l latency, "
            "h heal all) and watch throughput, errors and the live checker verdict. The "
            "session (events, history, fault schedule) is saved under [project] run_dir."
        ),
    )
    p.add_argument(
        "--nodes", type=int, metavar="N", help="nodes to start (default: [cluster] nodes)"
    )
    p.add_argument(
        "--clients", type=int, default=4, metavar="N", help="workload clients (default 4)"
    )
    p.add_argument(
        "--rate", type=float, default=50.0, metavar="OPS", help="ops per second (default 50)"
    )
    p.add_argument(
        "--minutes",
        type=float,
        default=30.0,
        metavar="M",
        help="the workload stops after M minutes (default 30)",
    )
    p.add_argument(
        "--client",
        default="distlab.tui.lab_client",
        metavar="MODULE",
        help="module with make_client(process, addresses) and status(addresses) "
        "(default: the reference KV system)",
    )
    p.set_defaults(command="lab")


def run(args: argparse.Namespace) -> int:
    from distlab import proc
    from distlab.config.loader import load
    from distlab.rundir import create_run_dir
    from distlab.seeds import new_root_seed
    from distlab.tui.lab import LabBackend, load_client_module
    from distlab.tui.launch import run_dashboard

    for what, value, low in (
        ("--clients", args.clients, 1),
        ("--rate", args.rate, 0.1),
        ("--minutes", args.minutes, 0.1),
    ):
        if not value >= low:
            raise UsageError(f"{what} must be at least {low:g}, got {value:g}")
    load_client_module(args.client)  # before anything is created on disk
    config = load(args.config)
    if not config.cluster.command:
        raise UsageError(
            f"{args.config}: [cluster] command is empty; set the command that starts one node"
        )
    seed = args.seed if args.seed is not None else new_root_seed()
    session = create_run_dir(config.project.run_dir, seed)
    for line in proc.reap_orphans(session.parent):
        print(line, flush=True)
    backend = LabBackend(
        config,
        seed=seed,
        session_dir=session,
        nodes=args.nodes,
        clients=args.clients,
        rate=args.rate,
        minutes=args.minutes,
        client_module=args.client,
    )
    code = run_dashboard(backend, live_clock=True, initial_tab="cluster")
    print(f"distlab lab: session saved in {session} (replay: distlab replay {session})")
    return code
