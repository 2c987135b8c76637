"""Redis + Sentinel: acknowledged writes lost when the primary is isolated, per mode.

    python bench/redis_sentinel_loss.py [--runs 5]

Runs examples/redis-sentinel's chaos layer ``--runs`` times (seeds 1..N) with
``distlab --ci`` and prints, per run and mode (async replication; with
min-replicas-to-write 1 / max-lag 2), the count the set checker reported
(the ``chaos.lost_acked_writes`` metric of summary.json), then min / median /
max per mode and the layer's time. Needs redis-server and redis-sentinel
(make test installs them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "redis-sentinel" / "config.toml"
SUMMARY = CONFIG.parent / "reports" / "summary.json"


def losses(summary: dict) -> dict[str, float]:
    """mode -> lost acknowledged writes, from the metrics in summary.json."""
    found: dict[str, float] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("name") == "lost_acked_writes":
                found[str((node.get("tags") or {}).get("mode"))] = float(node["value"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(summary)
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    distlab = str(Path(sys.executable).with_name("distlab"))
    per_mode: dict[str, list[float]] = {}
    times = []
    for seed in range(1, args.runs + 1):
        done = subprocess.run(
            [distlab, "--ci", "--config", str(CONFIG), "--layers", "chaos", "--seed", str(seed)],
            capture_output=True,
            text=True,
        )
        summary = json.loads(SUMMARY.read_text())
        found = losses(summary)
        layer_s = next(
            (
                layer.get("duration_s")
                for layer in summary.get("layers", [])
                if layer.get("layer") == "chaos"
            ),
            None,
        )
        times.append(layer_s)
        print(
            f"run {seed}: exit {done.returncode}, chaos layer {layer_s} s, lost {found}", flush=True
        )
        for mode, count in found.items():
            per_mode.setdefault(mode, []).append(count)
    for mode, counts in per_mode.items():
        print(
            f"{mode}: lost acknowledged writes min {min(counts):.0f} median "
            f"{statistics.median(counts):.0f} max {max(counts):.0f} over {len(counts)} runs"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
