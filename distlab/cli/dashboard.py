"""`distlab` with no command: the dashboard on ./config.toml (or --config)."""

from __future__ import annotations

import argparse

from distlab.errors import UsageError


def run(args: argparse.Namespace) -> int:
    # Heavy imports here: `distlab --help` stays fast.
    from distlab.config.loader import load
    from distlab.runner.plan import select_layers
    from distlab.tui.backend import RunBackend
    from distlab.tui.launch import need_terminal, run_dashboard

    need_terminal("distlab")
    if args.junit_xml:
        # The dashboard's runs keep their reports in their run directory; CI's file
        # is written by `--ci` only, so a run from the dashboard never replaces it.
        raise UsageError("--junit-xml is for --ci runs; add --ci to write JUnit XML")
    if args.quiet:
        raise UsageError("-q/--quiet is for --ci runs: the dashboard prints no lines")
    config = load(args.config)
    # --layers is honoured: `a` runs those layers (the tree still shows every layer).
    layers = select_layers(config, args.layers) if args.layers else None
    backend = RunBackend(config, seed=args.seed, layers=layers, long=bool(args.long))
    return run_dashboard(backend, live_clock=True)
