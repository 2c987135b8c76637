"""`distlab --ci` over 2,000 trivial tests vs plain pytest over the same tests.

Target (issue 4): distlab's wall time <= 1.10x plain pytest's. Both run side
by side in this one script, alternating, and the medians are compared, so
a busy shared machine slows both alike. "Plain pytest" is
`python -m pytest -q` on the same files (distlab's plugin is installed and
loads, but sends nothing without DISTLAB_EVENTS).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import record

FILES, PER_FILE, ROUNDS = 20, 100, 3


def make_suite(root: Path) -> Path:
    suite = root / "trivial"
    suite.mkdir()
    for f in range(FILES):
        body = "\n\n".join(f"def test_{t}():\n    assert {t} == {t}" for t in range(PER_FILE))
        (suite / f"test_trivial_{f}.py").write_text(body + "\n")
    (root / "config.toml").write_text(
        f'[project]\nrun_dir = "runs"\nreports_dir = "reports"\n\n'
        f'[suites.unit]\npaths = ["{suite}"]\n'
    )
    return suite


def timed(argv: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{argv[2:4]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}")
    return elapsed


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="distlab-bench-") as tmp:
        root = Path(tmp)
        suite = make_suite(root)
        plain_argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)]
        ci_argv = [sys.executable, "-m", "distlab.cli.main", "--ci", "--config", "config.toml"]
        plain, ci = [], []
        for _ in range(ROUNDS):
            plain.append(timed(plain_argv, root))
            ci.append(timed(ci_argv, root))
    p, c = statistics.median(plain), statistics.median(ci)
    n = FILES * PER_FILE
    record(f"runner_overhead: plain pytest, {n} trivial tests (median of {ROUNDS})", p, "s")
    record(f"runner_overhead: distlab --ci, {n} trivial tests (median of {ROUNDS})", c, "s")
    record("runner_overhead: distlab --ci / plain pytest (target <= 1.10)", c / p, "x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
