"""the dashboard."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    print("distlab: the dashboard is not built yet; it will run the layers in config.toml")
    return 0
