"""5 echo nodes from start to all healthy: the median of several starts.

Measured twice in the same run: wired through the proxy server in its own
process (as `config.toml` runs it), and direct (no proxies), so the cost of
the network is visible. Target: <= 1.0 s median on a 2-core machine.

    .venv/bin/python bench/cluster_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from _results import record  # noqa: E402
from cluster_helpers import echo_settings  # noqa: E402

from distlab.cluster import Cluster  # noqa: E402
from distlab.config.schema import NetworkSettings  # noqa: E402


def time_start(direct: bool, run_dir: Path) -> float:
    """Seconds from Cluster.start() to every node healthy (teardown not counted)."""
    cluster = Cluster(
        echo_settings(nodes=5),
        run_dir,
        network=NetworkSettings(proxy_process=True),
        direct=direct,
    )
    began = time.perf_counter()
    try:
        cluster.start()
        return time.perf_counter() - began
    finally:
        cluster.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="distlab-bench-") as tmp:
        for direct, label in ((False, "proxied"), (True, "direct")):
            times = [time_start(direct, Path(tmp)) for _ in range(args.runs)]
            print(f"{label}: " + " ".join(f"{t:.3f}" for t in times))
            record(f"cluster_start_5_echo_nodes_{label}_median", statistics.median(times), "s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
