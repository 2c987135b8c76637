"""Interrupt `distlab --ci` at random points and count what it leaves behind
(issue 14, done-when): processes, temp directories, and reports that read as
a pass.

    .venv/bin/python bench/interrupted_runs.py --runs 20 --seed 1 --layers concurrency,distributed

Each trial runs the shipped suites from a fresh directory (its own run dir and
reports), sends SIGKILL or SIGINT (seeded choice) at a seeded time, waits for
the dust to settle, then looks:

- processes: every process seen during the trial that carried the trial's
  marker in its environment, and all their descendants (PostgreSQL gets a clean
  environment, so descendants are tracked by parentage while the run lives);
- temp dirs: /tmp/distlab-* whose owner record names one of those processes,
  and /tmp/tmp* directories created during the trial (the snapshot plugin's,
  an upper bound: other people's pytest runs make them too);
- reports: a summary.json with exit_code 0 or a verdict of pass, or a
  junit.xml with no failure and no error, after an interrupted run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def _config(trial_dir: Path) -> Path:
    text = (REPO / "config.toml").read_text(encoding="utf-8")
    text = re.sub(r'"suites/', f'"{REPO}/suites/', text)
    text = re.sub(r"^run_dir = .*$", f'run_dir = "{trial_dir}/runs"', text, flags=re.M)
    text = re.sub(r"^reports_dir = .*$", f'reports_dir = "{trial_dir}/reports"', text, flags=re.M)
    path = trial_dir / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _marked(marker: str) -> set[tuple[int, float]]:
    seen: set[tuple[int, float]] = set()
    for p in psutil.process_iter(["pid"]):
        try:
            if marker == p.environ().get("DISTLAB_TRIAL", ""):
                for q in [p, *p.children(recursive=True)]:
                    seen.add((q.pid, q.create_time()))
        except psutil.Error:
            continue
    return seen


def _alive(seen: set[tuple[int, float]]) -> list[str]:
    left = []
    for pid, created in seen:
        try:
            p = psutil.Process(pid)
            if abs(p.create_time() - created) < 0.01 and p.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{pid} {' '.join(p.cmdline())[:100]}")
        except psutil.Error:
            continue
    return left


def _temp_dirs(pids: set[int], since: float) -> tuple[list[str], list[str]]:
    ours, snapshot = [], []
    tmp = Path(tempfile.gettempdir())
    for path in tmp.glob("distlab-*"):
        try:
            owner = int((path / "owner").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if owner in pids:
            ours.append(str(path))
    for path in tmp.glob("tmp*"):
        try:
            if path.is_dir() and path.stat().st_ctime >= since:
                snapshot.append(str(path))
        except OSError:
            continue
    return ours, snapshot


def _reads_as_pass(trial_dir: Path) -> list[str]:
    found = []
    summary = trial_dir / "reports" / "summary.json"
    if summary.exists():
        data = json.loads(summary.read_text())
        if data.get("exit_code") == 0 or str(data.get("verdict", "")).lower() == "pass":
            found.append(
                f"{summary}: exit_code {data.get('exit_code')} verdict {data.get('verdict')}"
            )
    junit = trial_dir / "reports" / "junit.xml"
    if junit.exists():
        text = junit.read_text()
        failures = sum(int(x) for x in re.findall(r'(?:failures|errors)="(\d+)"', text))
        if failures == 0:
            found.append(f"{junit}: no failure and no error")
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--layers", default="concurrency,distributed")
    ap.add_argument("--max-s", type=float, default=40.0, help="latest interrupt time")
    args = ap.parse_args()
    # A shell starts a background job with SIGINT ignored, and an ignored signal
    # stays ignored across exec: the runner would never see the Ctrl-C we send.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="interrupted-runs-"))
    totals = {"processes": 0, "distlab_dirs": 0, "tmp_dirs": 0, "pass_reports": 0}
    for trial in range(args.runs):
        trial_dir = root / f"t{trial}"
        trial_dir.mkdir()
        config = _config(trial_dir)
        at = rng.uniform(2.0, args.max_s)
        sig = rng.choice([signal.SIGKILL, signal.SIGINT])
        marker = f"{root.name}-{trial}"
        started = time.time()
        runner = subprocess.Popen(
            [sys.executable, "-m", "distlab.cli.main", "--ci", "--config", str(config),
             "--layers", args.layers, "--seed", str(args.seed * 1000 + trial)],
            cwd=REPO,
            env={**os.environ, "DISTLAB_TRIAL": marker, "NO_COLOR": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        seen: set[tuple[int, float]] = set()
        deadline = started + at
        while time.time() < deadline and runner.poll() is None:
            seen |= _marked(marker)
            time.sleep(0.3)
        seen |= _marked(marker)
        if runner.poll() is None:
            runner.send_signal(sig)  # the runner only, as a kill -9 or a Ctrl-C to it would be
        try:
            runner.wait(timeout=60)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait()
        time.sleep(5.0)  # the guardian's and PostgreSQL's own shutdown
        left = _alive(seen)
        ours, snapshot = _temp_dirs({pid for pid, _ in seen}, started)
        passes = _reads_as_pass(trial_dir) if runner.returncode != 0 else []
        totals["processes"] += len(left)
        totals["distlab_dirs"] += len(ours)
        totals["tmp_dirs"] += len(snapshot)
        totals["pass_reports"] += len(passes)
        print(
            f"trial {trial}: {sig.name} at {at:.1f}s exit {runner.returncode} "
            f"after {time.time() - started - at:.1f}s "
            f"processes seen {len(seen)} left {len(left)} distlab dirs left {len(ours)} "
            f"new tmp* dirs {len(snapshot)} reports reading as pass {len(passes)}",
            flush=True,
        )
        for line in left + ours + passes:
            print(f"  {line}", flush=True)
        # Clean up after the measurement so the next trial starts from nothing.
        for line in _alive(seen):
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except OSError:
                pass
    print(f"totals over {args.runs} interrupted runs: {json.dumps(totals)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
