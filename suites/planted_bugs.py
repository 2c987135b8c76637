"""Every planted bug must be caught: run each bug's black-box selection with the bug on.

    .venv/bin/python suites/planted_bugs.py [--runs N] [--jobs 2] [--bugs a,b] [--seed S]

The table in docs/planted-bugs.md (between the ``planted-bugs`` markers) names,
for each bug in ``REFSYS_BUGS``, the smallest black-box test selection that
catches it. For each bug this runs that selection ``--runs`` times with
``REFSYS_BUGS=<bug>`` (pytest must report a failed test), and every
selection once with no bug (they must pass; shared among ``--jobs`` pytest
processes): a selection that also fails without its bug proves nothing. Runs go ``--jobs`` at a time, each a pytest
process in its own session (it and its cluster die with this script), with a
seed derived from the root seed and its own run directory.

Prints one line per bug -- caught k/N, the median time to detection (the test
time up to the first failure, pytest's ``-x``) -- and writes ``planted.json``
into the run directory. Exit 0: every bug caught in every run and every
selection clean; 1: a bug missed or a selection failing without its bug;
2: bad usage or a table that does not parse; 3: a selection that could not
run at all (pytest's own errors, a timeout).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from distlab import proc  # noqa: E402
from distlab.env import LONG_ENV, RUN_DIR_ENV, SEED_ENV  # noqa: E402
from distlab.rundir import create_run_dir  # noqa: E402
from distlab.seeds import derive, new_root_seed  # noqa: E402
from reference_system import bugs  # noqa: E402

TABLE = ROOT / "docs" / "planted-bugs.md"
BEGIN, END = "<!-- planted-bugs:begin -->", "<!-- planted-bugs:end -->"
#: a selection that takes longer than this is stuck, not slow
RUN_TIMEOUT_S = 600
#: earlier runs kept under .distlab/planted (each holds the failing clusters' logs)
KEEP_RUNS = 5
_CELL = re.compile(r"`([^`]+)`")


class TableError(Exception):
    """The catch table is missing or malformed."""


@dataclass(frozen=True)
class Row:
    """One bug and the selections that catch it."""

    bug: str
    black_box: tuple[str, ...]
    unit: tuple[str, ...]


@dataclass
class Outcome:
    """One pytest run of a selection."""

    bug: str | None
    run: int
    code: int
    failed: int
    passed: int
    test_s: float
    wall_s: float
    run_dir: Path
    first_failure: str = ""
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def read_table(path: Path = TABLE) -> list[Row]:
    """The rows between the markers of ``path``; every bug must be a known one."""
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise TableError(f"{path}: no table between {BEGIN} and {END}")
    rows = []
    for line in text.split(BEGIN, 1)[1].split(END, 1)[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue  # header, rule or blank
        bug = cells[0].strip("`")
        if bug not in bugs.KNOWN:
            raise TableError(f"{path}: {bug!r} is not a planted bug; known: {sorted(bugs.KNOWN)}")
        black_box = tuple(n for cell in _CELL.findall(cells[1]) for n in cell.split())
        if not black_box:
            raise TableError(f"{path}: bug {bug!r} has no black-box selection")
        rows.append(Row(bug, black_box, tuple(_CELL.findall(cells[2]))))
    missing = sorted(set(bugs.KNOWN) - {r.bug for r in rows})
    if missing:
        raise TableError(f"{path}: no row for planted bug(s) {', '.join(missing)}")
    return rows


def run_selection(
    selection: tuple[str, ...], bug: str | None, run: int, seed: int, run_dir: Path, long: bool
) -> Outcome:
    """Run ``selection`` in a pytest process of its own with ``bug`` on (None: none)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    junit = run_dir / "junit.xml"
    env = {
        **os.environ,
        bugs.BUGS_ENV: bug or "",
        SEED_ENV: str(seed),
        RUN_DIR_ENV: str(run_dir),
    }
    if long:
        env[LONG_ENV] = "1"
    # With a bug: stop at the first failure (that is the time to detection).
    # Without: run everything, so that every test that fails is named.
    argv = [sys.executable, "-m", "pytest", *(["-x"] if bug else []), "-q"]
    argv += ["-p", "no:cacheprovider"]
    argv += [f"--junitxml={junit}", *selection]
    started = time.monotonic()
    with open(run_dir / "pytest.log", "wb") as log:
        child = proc.spawn(argv, env=env, cwd=ROOT, stdout=log, label="pytest", run_dir=run_dir)
        try:
            code = child.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = -1
        finally:
            proc.stop_group(child, grace_s=5.0)
    wall = time.monotonic() - started
    out = Outcome(bug, run, code, 0, 0, 0.0, wall, run_dir)
    if code == -1:
        out.errors.append(f"no result after {RUN_TIMEOUT_S} s")
    _read_junit(junit, out)
    return out


def _read_junit(path: Path, out: Outcome) -> None:
    try:
        suite = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return
    for case in suite.iter("testcase"):
        out.test_s += float(case.get("time") or 0)
        bad = case.find("failure")
        if case.find("error") is not None:
            out.errors.append(f"{case.get('name')}: error")
        elif bad is not None:
            out.failed += 1
            out.failures.append(str(case.get("name")))
            if not out.first_failure:
                message = (bad.get("message") or "").splitlines()
                out.first_failure = f"{case.get('name')}: {message[0] if message else ''}"[:300]
        elif case.find("skipped") is None:
            out.passed += 1


def caught(o: Outcome) -> bool:
    """The selection failed a test (pytest exit 1), not an error of its own."""
    return o.code == 1 and o.failed > 0 and not o.errors


def clean(o: Outcome) -> bool:
    """The selection passed without any bug."""
    return o.code == 0 and o.passed > 0 and not o.errors


def main(argv: list[str] | None = None) -> int:
    """See the module docstring."""
    ap = argparse.ArgumentParser(
        prog="planted_bugs.py", description="Check that every planted bug is caught."
    )
    ap.add_argument("--runs", type=int, default=1, help="runs per bug with the bug on")
    ap.add_argument("--jobs", type=int, default=2, help="selections run at the same time")
    ap.add_argument("--bugs", default="", help="only these bugs (comma-separated)")
    ap.add_argument("--seed", default=None, help="root seed (default DISTLAB_SEED or random)")
    ap.add_argument("--no-clean", action="store_true", help="skip the runs without a bug")
    ap.add_argument("--long", action="store_true", help="run the selections in --long mode")
    ap.add_argument(
        "--selection",
        default="",
        help="measure this selection (node ids, space-separated) instead of the table's",
    )
    args = ap.parse_args(argv)
    try:
        if not 1 <= args.runs <= 100 or not 1 <= args.jobs <= 16:
            raise ValueError("--runs must be from 1 to 100 and --jobs from 1 to 16")
        root_seed = int(args.seed, 0) if args.seed is not None else new_root_seed()
        rows = read_table()
        wanted = {b.strip() for b in args.bugs.split(",") if b.strip()}
        unknown = sorted(wanted - {r.bug for r in rows})
        if unknown:
            raise ValueError(f"--bugs: {', '.join(unknown)} not in the table")
    except (ValueError, TableError) as exc:
        print(f"planted_bugs.py: error: {exc}", file=sys.stderr)
        return 2
    rows = [r for r in rows if not wanted or r.bug in wanted]
    if args.selection.strip():
        rows = [Row(r.bug, tuple(args.selection.split()), r.unit) for r in rows]
    _prune(ROOT / ".distlab" / "planted", KEEP_RUNS)
    top = create_run_dir(ROOT / ".distlab" / "planted", root_seed)
    print(f"planted bugs: {len(rows)} bugs x {args.runs} runs, seed {root_seed}, in {top}")

    jobs: list[tuple[tuple[str, ...], str | None, int]] = [
        (r.black_box, r.bug, k) for r in rows for k in range(args.runs)
    ]
    if not args.no_clean:
        # Without a bug, the selections share pytest processes (one per job slot):
        # one interpreter and one PostgreSQL start each instead of one per selection.
        clean = list(dict.fromkeys(n for r in rows for n in r.black_box))
        share = -(-len(clean) // args.jobs)
        jobs += [
            (tuple(clean[k : k + share]), None, k // share) for k in range(0, len(clean), share)
        ]

    def go(job: tuple[tuple[str, ...], str | None, int]) -> Outcome:
        selection, bug, k = job
        name = f"{bug or 'none'}-{k}"
        seed = derive(root_seed, f"{bug}/{k}/{' '.join(selection)}")
        return run_selection(selection, bug, k, seed, top / name, args.long)

    try:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            outcomes = list(pool.map(go, jobs))
    except KeyboardInterrupt:
        proc.kill_spawned()
        print("planted_bugs.py: interrupted; every selection stopped", file=sys.stderr)
        return 1
    return report(rows, jobs, outcomes, top, root_seed)


def _prune(root: Path, keep: int) -> None:
    """Remove all but the ``keep`` newest run directories under ``root``."""
    if not root.is_dir():
        return
    runs = sorted((d for d in root.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime)
    for old in runs[: max(0, len(runs) - keep)]:
        shutil.rmtree(old, ignore_errors=True)


def report(
    rows: list[Row],
    jobs: list[tuple[tuple[str, ...], str | None, int]],
    outcomes: list[Outcome],
    top: Path,
    root_seed: int,
) -> int:
    """Print the verdict per bug and per clean selection; write planted.json; the exit code."""
    missed = broken = False
    by_bug: dict[str, dict[str, object]] = {}
    by_selection: dict[str, dict[str, object]] = {}
    for r in rows:
        runs = [o for o in outcomes if o.bug == r.bug]
        hits = [o for o in runs if caught(o)]
        errors = [e for o in runs for e in o.errors]
        detect = statistics.median(o.test_s for o in hits) if hits else None
        missed |= len(hits) < len(runs)
        broken |= bool(errors)
        when = f"median {detect:.1f} s to detection" if detect is not None else "never caught"
        print(f"{r.bug:24} caught {len(hits)}/{len(runs)}  {when}  ({' '.join(r.black_box)})")
        for o in runs:
            if not caught(o):
                why = "; ".join(o.errors) or f"pytest exit {o.code}, {o.passed} passed"
                print(f"    run {o.run} missed: {why} -- {o.run_dir}")
        by_bug[r.bug] = {
            "selection": list(r.black_box),
            "runs": len(runs),
            "caught": len(hits),
            "detection_s": [round(o.test_s, 2) for o in hits],
            "wall_s": [round(o.wall_s, 1) for o in runs],
            "first_failures": [o.first_failure for o in hits],
        }
    for (selection, bug, _), o in zip(jobs, outcomes, strict=True):
        if bug is not None:
            continue
        ok = clean(o)
        missed |= not ok
        broken |= bool(o.errors)
        verdict = (
            f"{o.passed} tests pass without a bug"
            if ok
            else f"FAILS without a bug (exit {o.code}): {', '.join(o.failures) or '; '.join(o.errors)}"
        )
        print(f"{'(no bug)':24} {verdict}  ({o.run_dir})")
        by_selection[" ".join(selection)] = {"passed": ok, "wall_s": round(o.wall_s, 1)}
    summary = {"seed": root_seed, "bugs": by_bug, "clean": by_selection}
    (top / "planted.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if broken:
        print("planted bugs: some selections could not run (see above)")
        return 3
    print(
        "planted bugs: "
        + ("a bug was missed or a selection is not clean" if missed else "all caught")
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
