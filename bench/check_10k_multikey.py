"""Linearizability check of a 10,000-op register history: 100 keys, 5 concurrent
clients per key, 3% timeouts. Target: <= 2 s on 2 cores (issue 7).

Figures: parse + check time as `distlab check` does it (best of 3), and the
same with every key sent to the worker processes (the parallel path).

    .venv/bin/python bench/check_10k_multikey.py
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._results import record
from distlab.checkers import Register, Verdict, check_linearizable, load
from distlab.workload.simulate import simulate_keys, write_jsonl


def main() -> int:
    recs = simulate_keys(random.Random(10_000), keys=100, ops_per_key=100, clients_per_key=5)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        write_jsonl(recs, path)
        best, best_par = float("inf"), float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            result = check_linearizable(load(path, Register()), Register())
            best = min(best, time.perf_counter() - t0)
            assert result.verdict is Verdict.VALID, result.summary()
            t0 = time.perf_counter()
            par = check_linearizable(load(path, Register()), Register(), slice_s=0, workers=2)
            best_par = min(best_par, time.perf_counter() - t0)
            assert par.verdict is Verdict.VALID
    record("check 10k ops / 100 keys / 5 clients per key: parse+check", best, "s")
    record("check 10k ops / 100 keys: all keys in 2 worker processes", best_par, "s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
