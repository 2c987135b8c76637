"""distlab's checkers against Porcupine, side by side in one run (issue 17).

- Porcupine's public kv set (c01/c10/c50, ok/bad) and Jepsen etcd set
  (102 logs), converted to distlab's JSON lines (line number = time);
- a 1M-op register history (1000 keys x 1000 ops, 5 clients per key);
- a 10,000-transaction list-append history over 100 keys (up to 4 micro-ops).

distlab is timed as a user runs it: one `distlab check` call per set,
check-only (`--no-explain`) and with explanations (counterexample text and
HTML timeline). Porcupine is timed the same way: one run of a small Go
harness (bench/porcupine_harness, our code) that reads the same files and
calls `porcupine.CheckOperations`; Porcupine is built from the checkout at
PORCUPINE_REPO (brought by the `fetch` tool, never committed) with the Go of
Debian's golang-go, offline. Wall and CPU (user+sys of the child, workers
included) per run; both sides pay their start-up, parse and check.

    .venv/bin/python bench/check_porcupine.py
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import _porcupine as P  # noqa: E402

from bench._results import record  # noqa: E402
from distlab.checkers import KV, Register, check_linearizable, load  # noqa: E402
from distlab.workload.simulate import simulate_keys, write_jsonl  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "distlab-bench"
DISTLAB = [sys.executable, "-m", "distlab.cli.main", "check", "--no-stats"]


def cpu_now() -> float:
    """CPU seconds of this process and its reaped children (the check's workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the child and its workers, stdout) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd[:6]} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return wall, cpu, proc.stdout


def build_porcupine() -> Path | None:
    """The harness binary, or None (with the reason printed) if it cannot be had offline."""
    if not P.available():
        print(f"porcupine: no checkout at {P.REPO} (fetch github:anishathalye/porcupine)")
        return None
    go = shutil.which("go")
    if go is None:
        print("porcupine: no Go toolchain (apt-get install golang-go)")
        return None
    work = CACHE / "harness"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "--git-dir", str(P.REPO), "archive", "HEAD", "--prefix=porcupine/"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "x"], input=archive, cwd=work, check=True)
    shutil.copy(HERE / "porcupine_harness" / "main.go", work / "main.go")
    (work / "go.mod").write_text(
        "module harness\n\ngo 1.19\n\nrequire github.com/anishathalye/porcupine v0.0.0\n\n"
        "replace github.com/anishathalye/porcupine => ./porcupine\n"
    )
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOCACHE": str(CACHE / "gocache")}
    built = subprocess.run(
        [go, "build", "-o", "harness", "."], cwd=work, env=env, capture_output=True, text=True
    )
    if built.returncode != 0:
        print(f"porcupine: build failed: {built.stderr.strip()[-300:]}")
        return None
    return work / "harness"


def sets(tmp: Path) -> dict[str, tuple[str, list[Path]]]:
    """The kv and etcd sets as JSON-lines files: name -> (model, files)."""
    kv_dir, etcd_dir = tmp / "kv", tmp / "etcd"
    kv_dir.mkdir()
    etcd_dir.mkdir()
    kv = [
        P.write(P.kv_records(name), kv_dir / f"{name}.jsonl")
        for name in ("c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad")
    ]
    etcd = [
        P.write(recs, etcd_dir / (Path(path).stem + ".jsonl"))
        for path in P.files("jepsen")
        if path.endswith(".log") and (recs := P.etcd_records(path))  # etcd_095.log is empty
    ]
    return {"kv": ("kv", kv), "etcd": ("register", etcd)}


def million(ops_per_key: int = 1000, keys: int = 1000) -> Path:
    """A 1M-op register history, generated once and cached."""
    path = CACHE / f"register-{keys}x{ops_per_key}.jsonl"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        recs = simulate_keys(
            random.Random(17), keys=keys, ops_per_key=ops_per_key, timeout_rate=0.01
        )
        write_jsonl(recs, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").rename(path)
    return path


def txn_history(path: Path, txns: int = 10_000, keys: int = 100, clients: int = 10) -> Path:
    """A list-append history of a serializable store: each transaction takes
    effect atomically at one instant inside its interval."""
    rng = random.Random(23)
    lists: dict[int, list[int]] = {}
    counter = 0
    events: list[tuple[int, int, dict[str, Any]]] = []
    free_at = [0] * clients
    for _ in range(txns):
        p = min(range(clients), key=lambda c: free_at[c])
        call = free_at[p] + rng.randint(1, 50)
        effect = call + rng.randint(1, 100)
        ret = effect + rng.randint(1, 100)
        free_at[p] = ret
        mops = []
        for _ in range(rng.randint(1, 4)):
            k = rng.randrange(keys)
            if rng.random() < 0.5:
                counter += 1
                mops.append(["append", k, counter])
            else:
                mops.append(["r", k, None])
        events.append((call, 0, {"process": p, "type": "invoke", "f": "txn", "value": mops}))
        events.append((effect, 1, {"mops": mops, "process": p, "ret": ret}))
    # apply effects in time order, then write invokes and completions
    events.sort(key=lambda e: (e[0], e[1]))
    out: list[tuple[int, int, dict[str, Any]]] = []
    for t, kind, rec in events:
        if kind == 0:
            out.append((t, 0, {**rec, "time": t}))
            continue
        done = []
        for f, k, v in rec["mops"]:
            if f == "append":
                lists.setdefault(k, []).append(v)
                done.append([f, k, v])
            else:
                done.append([f, k, list(lists.get(k, []))])
        out.append(
            (
                rec["ret"],
                1,
                {
                    "process": rec["process"],
                    "type": "ok",
                    "f": "txn",
                    "value": done,
                    "time": rec["ret"],
                },
            )
        )
    out.sort(key=lambda e: (e[0], -e[1]))
    path.write_text("".join(json.dumps(e[2]) + "\n" for e in out))
    return path


def main() -> int:
    harness = build_porcupine()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rows: list[tuple[str, str, str]] = []

        def row(name: str, ours: tuple[float, float], theirs: tuple[float, float] | None) -> None:
            ours_s = f"{ours[0]:.2f} s wall / {ours[1]:.2f} s CPU"
            theirs_s = "-" if theirs is None else f"{theirs[0]:.2f} s wall / {theirs[1]:.2f} s CPU"
            rows.append((name, ours_s, theirs_s))
            record(f"porcupine-compare: {name}: distlab CPU", ours[1], "s")
            if theirs is not None:
                record(f"porcupine-compare: {name}: Porcupine CPU", theirs[1], "s")

        if P.available():
            for name, (model, files) in sets(tmp).items():
                html = tmp / f"html-{name}"
                html.mkdir()
                paths = [str(f) for f in files]
                quiet = timed([*DISTLAB, "--model", model, "--no-explain", *paths])
                loud = timed([*DISTLAB, "--model", model, "--html-dir", str(html), *paths])
                theirs = None
                if harness is not None:
                    wall, cpu, out = timed(
                        [str(harness), "kv" if model == "kv" else "register", *paths]
                    )
                    theirs = (wall, cpu)
                    verdicts = {
                        Path(j["file"]).stem: j["ok"] for j in map(json.loads, out.splitlines())
                    }
                    ours = {
                        Path(line.split(":")[0]).stem: ": valid" in line
                        for line in quiet[2].splitlines()
                        if line.startswith(str(tmp))
                    }
                    disagree = sorted(k for k in verdicts if verdicts[k] != ours.get(k))
                    print(f"{name}: {len(files)} files, verdicts disagree on: {disagree or 'none'}")
                row(f"{name} set ({len(files)} files), check only", quiet[:2], theirs)
                row(f"{name} set ({len(files)} files), with explanations", loud[:2], theirs)
                record(
                    f"porcupine-compare: {name} set: explanations / check-only CPU",
                    loud[1] / quiet[1],
                    "x",
                )
            bad = tmp / "kv" / "c50-bad.jsonl"
            c0 = cpu_now()
            res = check_linearizable(load(bad, KV()), KV(), explain=False)
            ours_bad = cpu_now() - c0
            print(f"c50-bad in process: {res.summary()}: {ours_bad:.3f} s CPU")
            record(
                "porcupine-compare: c50-bad, distlab in process (parse+check) CPU", ours_bad, "s"
            )
        path = million()
        c0 = cpu_now()
        history = load(path, Register())
        parse_s = cpu_now() - c0
        result = check_linearizable(history, Register(), explain=False)
        check_s = cpu_now() - c0 - parse_s
        del history
        print(
            f"1M-op file in process: parse {parse_s:.2f} s CPU, check {check_s:.2f} s CPU: "
            f"{result.summary()}"
        )
        record("porcupine-compare: 1M-op file, distlab parse in process CPU", parse_s, "s")
        record("porcupine-compare: 1M-op file, distlab check in process CPU", check_s, "s")
        # a generous budget: the figure is CPU, and a shared machine stretches wall time
        ours_m = timed([*DISTLAB, "--model", "register", "--budget", "3600", str(path)])
        theirs_m = None
        if harness is not None:
            wall, cpu, out = timed([str(harness), "register", str(path)])
            theirs_m = (wall, cpu)
            j = json.loads(out)
            print(
                f"1M-op file, Porcupine: parse {j['parse_s']:.2f} s, check {j['check_s']:.2f} s, ok={j['ok']}"
            )
        row(
            f"1M-op file ({path.stat().st_size // 1_000_000} MB), parse + check",
            ours_m[:2],
            theirs_m,
        )
        txn = txn_history(tmp / "txn10k.jsonl")
        from distlab.checkers.transactions import check_transactions
        from distlab.checkers.txn import ListAppend

        c0 = cpu_now()
        tres = check_transactions(load(txn, ListAppend()), ListAppend())
        txn_s = cpu_now() - c0
        print(f"10k txns in process: {tres.summary()}: {txn_s:.2f} s CPU (parse + check)")
        record("10k-txn list-append check in process (parse + check) CPU", txn_s, "s")
        row(
            "10k-txn list-append, distlab check",
            timed([*DISTLAB, "--model", "list-append", str(txn)])[:2],
            None,
        )
    width = max(len(r[0]) for r in rows)
    print(f"\n{'':{width}}  {'distlab':>28}  {'Porcupine':>28}")
    for name, ours_s, theirs_s in rows:
        print(f"{name:{width}}  {ours_s:>28}  {theirs_s:>28}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
