"""Memory of the linearizability check on 100,000-op histories. Target (issue 7):
under 1 GB, time-boxed rather than running out of memory.

Each case runs in a child process so its peak RSS is its own:
- one key, 5 clients, 1% timeouts (the memo's worst ordinary case);
- 100 keys, 5 clients per key;
- a pathological history (26 concurrent timed-out writes, then an impossible
  read) whose search is exponential: a 5 s budget must end it as `unknown`
  (the others get 60 s: they measure memory, and the machine is shared).

    .venv/bin/python bench/check_100k_memory.py
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._results import record
from distlab.workload.simulate import hard_history, simulate, simulate_keys, write_jsonl

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json, resource, sys, time
from distlab.checkers import Register, check_linearizable, load
t0 = time.perf_counter()
result = check_linearizable(load(sys.argv[1], Register()), Register(), budget_s=float(sys.argv[2]))
elapsed = time.perf_counter() - t0
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the parent
# (which holds the generated history), so it would report the parent's peak.
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"verdict": str(result.verdict), "s": elapsed, "peak_mb": (peak_kb + workers) / 1024}))
"""


def run_case(path: Path, budget: float) -> dict[str, float | str]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(budget)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        cases = {
            "1 key": simulate(random.Random(1), ops=100_000, clients=5, timeout_rate=0.01),
            "100 keys": simulate_keys(random.Random(2), keys=100, ops_per_key=1000),
            "pathological 27 ops": hard_history(26),
        }
        for name, recs in cases.items():
            path = Path(tmp) / f"{name.replace(' ', '_')}.jsonl"
            write_jsonl(recs, path)
            pathological = name.startswith("pathological")
            budget = 5.0 if pathological else 60.0
            res = run_case(path, budget)
            print(f"{name}: {res}")
            label = name if pathological else f"100k ops, {name}"
            verdict = res["verdict"]
            record(f"check {label}: peak RSS, verdict {verdict}", float(res["peak_mb"]), "MB")
            record(f"check {label}: parse+check (budget {budget:.0f} s)", float(res["s"]), "s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
