"""The run report (report.html): how long building it adds to the end of a
run, how big the page gets, and screenshots of it to look at.

- the shipped v1 run (tests/data/runs/v1-unit-chaos: unit + chaos, 33 faults);
- a synthetic long run, made through the real event encoders: an hour of
  workload samples, 5 nodes sampled every second, 400 fault windows, 2,000
  tests: the cost at the end of a big CI run;
- with RUN_DIR, that run too (say, a fresh `distlab --ci --layers chaos`).

Screenshots need headless Chromium (Debian's `chromium`); without it the
timings are still measured. Prints where the PNGs are.

    .venv/bin/python bench/report_screenshot.py [OUT_DIR] [RUN_DIR]
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._chromium import find_chromium, shoot  # noqa: E402
from bench._results import record  # noqa: E402
from distlab import events  # noqa: E402
from distlab.report import run_html  # noqa: E402

T0 = 1_800_000_000.0


def long_run(run_dir: Path) -> None:
    """An hour of a big chaos run, as events."""
    rng = random.Random(0)
    made: list[events.Event] = [
        events.RunStart(ts=T0, seed=1, layers=("chaos",), run_dir=str(run_dir))
    ]
    tests = 2000
    for n in range(tests):
        start = T0 + n * 1.8
        nodeid = f"suites/chaos/test_big.py::test_case[{n}]"
        made.append(events.TestStart(ts=start, layer="chaos", nodeid=nodeid))
        outcome = "failed" if rng.random() < 0.01 else "passed"
        made.append(events.TestEnd(ts=start + 1.7, layer="chaos", nodeid=nodeid, outcome=outcome))
    for s in range(3600):
        ts = T0 + s
        down = any(f0 <= s < f0 + 4 for f0 in range(30, 3600, 9))
        ok = rng.randint(0, 20) if down else rng.randint(300, 400)
        made.append(
            events.WorkloadSample(
                ts=ts,
                ops_per_s=ok + 5,
                ok=ok,
                fail=5,
                p50_ms=rng.uniform(2, 5) * (50 if down else 1),
                p99_ms=rng.uniform(10, 30) * (30 if down else 1),
                workload="w",
            )
        )
        for node in ("n1", "n2", "n3", "n4", "n5"):
            made.append(events.NodeSample(ts=ts, node=node, cpu_percent=10.0, state="up"))
    for k, f0 in enumerate(range(30, 3600, 9)):
        fid = f"s/f{k}"
        made.append(events.FaultStart(ts=T0 + f0, id=fid, fault="partition", target=("n1",)))
        made.append(events.FaultEnd(ts=T0 + f0 + 4, id=fid, fault="partition"))
    made.append(events.RunEnd(ts=T0 + 3601, verdict="fail", exit_code=1))
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "events.jsonl", "wb") as f:
        for event in sorted(made, key=lambda e: e.ts):
            f.write(events.encode(event))


def build(name: str, run_dir: Path) -> Path:
    started = time.perf_counter()
    page = run_html.write(run_dir)
    took = time.perf_counter() - started
    lines = (run_dir / "events.jsonl").read_bytes().count(b"\n")
    record(f"run report build, {name} ({lines:,} events)", took * 1000, "ms")
    record(f"run report size, {name}", page.stat().st_size / 1000, "kB")
    return page


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="report-"))
    out.mkdir(parents=True, exist_ok=True)
    pages = {}
    v1 = out / "v1-unit-chaos"
    shutil.rmtree(v1, ignore_errors=True)
    shutil.copytree(ROOT / "tests/data/runs/v1-unit-chaos", v1)
    pages["v1"] = build("shipped v1 run", v1)
    long_dir = out / "long-run"
    long_run(long_dir)
    pages["long"] = build("synthetic 1 h run", long_dir)
    if len(sys.argv) > 2:
        pages["run"] = build("given run", Path(sys.argv[2]))
    chromium = find_chromium()
    if chromium is None:
        print("no chromium (apt-get install -y chromium): timings only", file=sys.stderr)
        return 0
    for name, page in pages.items():
        size = shoot(chromium, page, out / f"report-{name}.png", 1400, 3000)
        print(f"{out / f'report-{name}.png'}: {size:,} bytes")
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
