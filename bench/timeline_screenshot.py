"""Screenshots of the HTML pages a person reads after a failed check, taken with
headless Chromium (Debian's `chromium`), for looking at them.

- the linearizability timeline of a real 1,000-op register history with one
  stale read (8 clients, a few timeouts): overview, zoomed window, axis;
- the anomalies page of a hand-made write-skew history (list-append).

Prints where the PNGs are (figures: their byte sizes, so a blank page shows).

    .venv/bin/python bench/timeline_screenshot.py [OUT_DIR]
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._chromium import find_chromium, shoot  # noqa: E402
from bench._results import record  # noqa: E402
from distlab.checkers import Register, check_linearizable, load, timeline, txn_report  # noqa: E402
from distlab.checkers.transactions import check_transactions  # noqa: E402
from distlab.checkers.txn import ListAppend  # noqa: E402
from distlab.workload.simulate import mutate_read, simulate, write_jsonl  # noqa: E402


def main() -> int:
    chromium = find_chromium()
    if chromium is None:
        print("no chromium (apt-get install -y chromium)", file=sys.stderr)
        return 1
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="timeline-"))
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    recs = simulate(rng, ops=1000, clients=8, timeout_rate=0.02)
    mutate_read(rng, recs)
    history_path = out / "register-1000.jsonl"
    write_jsonl(recs, history_path)
    result = check_linearizable(load(history_path, Register()), Register())
    page = timeline.write(result, str(history_path), out / "register-1000.timeline.html")
    size = shoot(chromium, page, out / "register-1000.timeline.png", 1100, 900)
    record("timeline screenshot (1,000-op history), PNG size", size / 1000, "kB")
    skew = ROOT / "tests/data/histories/list-append/G2-item_write_skew.jsonl"
    tres = check_transactions(load(skew, ListAppend()), ListAppend())
    page = txn_report.write(tres, str(skew), out / "write-skew.anomalies.html")
    size = shoot(chromium, page, out / "write-skew.anomalies.png", 1100, 700)
    record("anomalies page screenshot (write skew), PNG size", size / 1000, "kB")
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
