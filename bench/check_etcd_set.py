"""100 single-key register histories of about 100 ops each, 5 concurrent clients,
some timeouts -- the size of Jepsen's published etcd histories. Half of them get
one read value changed (usually invalid). Targets (issue 7): <= 2 s in total in
one process, median <= 5 ms; Porcupine does this class of set in about 1 s.

Figures: total and median per-history time in one process (parse + check,
counterexample included for invalid ones), and the wall time of one
`distlab check` call over the 100 files (start-up paid once).

    .venv/bin/python bench/check_etcd_set.py
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._results import record
from distlab.checkers import Register, check_linearizable, load
from distlab.workload.simulate import mutate_read, simulate, write_jsonl

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    rng = random.Random(100)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for n in range(100):
            recs = simulate(rng, ops=rng.randrange(80, 121), clients=5, timeout_rate=0.03)
            if n % 2:
                mutate_read(rng, recs)
            paths.append(Path(tmp) / f"etcd-{n:03}.jsonl")
            write_jsonl(recs, paths[-1])
        times, verdicts = [], {"valid": 0, "invalid": 0, "unknown": 0}
        t_all = time.perf_counter()
        for path in paths:
            t0 = time.perf_counter()
            result = check_linearizable(load(path, Register()), Register(), budget_s=10)
            times.append(time.perf_counter() - t0)
            verdicts[str(result.verdict)] += 1
        total = time.perf_counter() - t_all
        t0 = time.perf_counter()
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "distlab.cli.main",
                "check",
                "--model",
                "register",
                "--html-dir",
                tmp,
                tmp,
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        cli_s = time.perf_counter() - t0
        lines = [line for line in cli.stdout.splitlines() if line.startswith(tmp)]
        assert len(lines) == 100, cli.stderr
    print(f"verdicts: {verdicts}")
    record("check 100 etcd-sized histories: total in one process", total, "s")
    record(
        "check 100 etcd-sized histories: median per history", statistics.median(times) * 1000, "ms"
    )
    record("check 100 etcd-sized histories: max per history", max(times) * 1000, "ms")
    record("distlab check over 100 etcd-sized files (one call, with start-up)", cli_s, "s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
