"""a headless run."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    print("distlab: a headless run is not built yet; it will run the layers in config.toml")
    return 0
