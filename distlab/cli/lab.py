"""`distlab lab`: start the cluster and a workload; inject faults from the keyboard."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distlab.errors import UsageError

if TYPE_CHECKING:
    from distlab.nemesis import Schedule


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "lab",
        help="start the cluster and a workload; inject faults from the keyboard",
        description=(
            "Start the configured cluster and a bounded register workload, then inject faults "
            "from the keyboard (k kill, p pause/resume, r restart, n partition, l latency, "
            "h heal all) and watch throughput, errors and the live checker verdict. The "
            "session (events, history, the faults as a schedule, a regression test) is saved "
            "under [project] run_dir; --replay plays a saved schedule again."
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
        metavar="MODULE:ATTR",
        help="the adapter to the system, imported relative to the config's directory "
        "(default: [lab] client in the config)",
    )
    p.add_argument(
        "--replay",
        metavar="SCHEDULE",
        help="play a saved schedule.json (from an earlier session) in the lab; its seed "
        "is used unless --seed is given",
    )
    p.set_defaults(command="lab")


def run(args: argparse.Namespace) -> int:
    from distlab import proc
    from distlab.config.loader import load
    from distlab.lab.adapter import load_adapter
    from distlab.lab.session import LabSession
    from distlab.rundir import create_run_dir
    from distlab.seeds import new_root_seed
    from distlab.tui.lab import LabBackend
    from distlab.tui.launch import need_terminal, run_dashboard

    # Every flag is checked before the app opens: a bad one is a line and exit 2,
    # never a toast in a session that then "saves" nothing.
    if args.nodes is not None and not 1 <= args.nodes <= 64:
        raise UsageError(f"--nodes must be a whole number from 1 to 64, got {args.nodes}")
    for what, value, low in (
        ("--clients", args.clients, 1),
        ("--rate", args.rate, 0.1),
        ("--minutes", args.minutes, 0.1),
    ):
        if not value >= low:
            raise UsageError(f"{what} must be at least {low:g}, got {value:g}")
    schedule = _read_schedule(args.replay) if args.replay else None
    config = load(args.config)
    if not config.cluster.command:
        raise UsageError(
            f"{args.config}: [cluster] command is empty; set the command that starts one node"
        )
    # Before anything is created on disk: a bad adapter is a one-line usage error.
    if args.client:
        client, origin = args.client, "--client"
    elif config.lab.client:
        client, origin = config.lab.client, f"{args.config}: [lab] client"
    else:
        raise UsageError(
            f'{args.config}: [lab] client is not set; name your system\'s adapter ("module:attr") '
            "there or pass --client"
        )
    adapter = load_adapter(client, Path(config.path).resolve().parent, origin)
    if args.seed is not None:
        seed = args.seed
    elif schedule is not None and schedule.seed is not None:
        seed = schedule.seed
    else:
        seed = new_root_seed()
    need_terminal("distlab lab")  # the last check before anything is created
    session_dir = create_run_dir(config.project.run_dir, seed, shared=config.project.shared_reports)
    for line in proc.reap_orphans(session_dir.parent):
        print(line, flush=True)
    session = LabSession(
        config,
        adapter,
        client=client,
        seed=seed,
        session_dir=session_dir,
        nodes=args.nodes,
        clients=args.clients,
        rate=args.rate,
        minutes=args.minutes,
        schedule=schedule,
    )
    code = run_dashboard(LabBackend(session), live_clock=True, initial_tab="cluster")
    print(f"distlab lab: session saved in {session_dir} (replay: distlab replay {session_dir})")
    for path in session.saved:
        print(f"distlab lab: wrote {path}")
    return code


def _read_schedule(path: str) -> Schedule:
    """The schedule in ``path``, or a one-line UsageError naming the file."""
    from distlab.nemesis import Schedule

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--replay {path}: cannot read it ({e.strerror or e})") from None
    try:
        return Schedule.from_json(text)
    except UsageError as e:
        raise UsageError(f"--replay {path}: {e.message}") from None
