"""`distlab` with no command: the dashboard on ./config.toml (or --config)."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    # Heavy imports here: `distlab --help` stays fast.
    from distlab.config.loader import load
    from distlab.tui.backend import RunBackend
    from distlab.tui.launch import run_dashboard

    config = load(args.config)
    return run_dashboard(RunBackend(config, seed=args.seed), live_clock=True)
