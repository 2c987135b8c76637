"""Make synthetic but schema-true event streams (docs/events.md) for the TUI.

Deterministic (a fixed seed and a fixed clock), so the recorded files under
tests/data/ and the 50,000-event benchmark feed are the same on every run.

    python bench/tui_events.py --write    # rewrite tests/data/events_*.jsonl
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

T0 = 1_795_000_000.0
LAYERS = ("unit", "concurrency", "distributed", "chaos", "performance")
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"

TRACEBACK = """\
cluster = <Cluster n1..n3>, history = <HistoryRecorder 412 ops>

    def test_acknowledged_writes_survive_a_partition(cluster, history):
        cluster.net.partition_shape("majority_minority")
        w = workload(kv_client, clients=5, duration_s=3)
        w.run()
        result = history.check("register")
>       assert result.verdict == "valid", result.report()
E       AssertionError: history is not linearizable: read of x returned 3 after write 4 was acknowledged
E       assert 'invalid' == 'valid'

{file}:{line}: AssertionError"""


class Clock:
    """A fake clock that advances by small steps."""

    def __init__(self) -> None:
        self.t = T0

    def tick(self, dt: float) -> float:
        self.t += dt
        return self.t


def ev(clock: Clock, dt: float, kind: str, **fields: Any) -> dict[str, Any]:
    return {"v": 1, "ts": round(clock.tick(dt), 6), "kind": kind, **fields}


def suite_run(
    tests_per_layer: int = 6,
    tests_per_module: int = 3,
    fail_every: int = 0,
    stop_after: int | None = None,
    gates_fail: bool = False,
    seed: int = 7,
) -> Iterator[dict[str, Any]]:
    """A run over all five layers; ``fail_every`` N-th test fails; stop early at ``stop_after``."""
    rnd = random.Random(seed)
    clock = Clock()
    emitted = 0

    def out(e: dict[str, Any]) -> dict[str, Any]:
        nonlocal emitted
        emitted += 1
        return e

    yield out(
        ev(
            clock,
            0,
            "run.start",
            seed=seed,
            layers=list(LAYERS),
            run_dir=f".distlab/runs/20261122-050000-{seed}",
            config="config.toml",
        )
    )
    counts_all: dict[str, dict[str, int]] = {}
    n = 0
    for layer in LAYERS:
        yield out(ev(clock, 0.01, "layer.start", layer=layer, attempt=0))
        tests = []
        for i in range(tests_per_layer):
            module = f"suites/{layer}/test_{layer}_{i // tests_per_module}.py"
            tests.append(
                {
                    "nodeid": f"{module}::test_case_{i:04d}",
                    "file": module,
                    "line": 10 + 7 * (i % 3),
                    "markers": [layer],
                }
            )
        yield out(ev(clock, 0.2, "collect", layer=layer, tests=tests))
        counts = {"passed": 0, "failed": 0, "flaky": 0, "skipped": 0, "error": 0}
        for t in tests:
            n += 1
            yield out(ev(clock, 0.001, "test.start", layer=layer, nodeid=t["nodeid"]))
            if stop_after is not None and emitted >= stop_after:
                return  # mid-run: this test is still running
            outcome = "passed"
            fields: dict[str, Any] = {}
            if fail_every and n % fail_every == 0:
                outcome = "failed"
                fields = {
                    "message": "AssertionError: history is not linearizable",
                    "longrepr": TRACEBACK.format(file=t["file"], line=t["line"] + 6),
                    "stdout": f"seed {seed}\nworkload: 412 ops, 3 info\n",
                    "stderr": "",
                }
            elif n % 11 == 0:
                outcome = "skipped"
                fields = {"message": "needs PostgreSQL"}
            elif n % 17 == 0:
                outcome = "flaky"
            counts[outcome] += 1
            yield out(
                ev(
                    clock,
                    round(rnd.uniform(0.002, 0.05), 4),
                    "test.end",
                    layer=layer,
                    nodeid=t["nodeid"],
                    outcome=outcome,
                    duration_s=round(rnd.uniform(0.001, 0.04), 4),
                    file=t["file"],
                    line=t["line"],
                    **fields,
                )
            )
            if layer == "performance":
                yield out(
                    ev(
                        clock,
                        0.001,
                        "metric",
                        layer=layer,
                        nodeid=t["nodeid"],
                        name="kv_write.p95_ms",
                        value=round(rnd.uniform(8, 60), 2),
                        unit="ms",
                    )
                )
        outcome = "failed" if counts["failed"] else "passed"
        counts_all[layer] = counts
        yield out(
            ev(
                clock,
                0.05,
                "layer.end",
                layer=layer,
                outcome=outcome,
                counts=counts,
                duration_s=1.0,
                reason="",
            )
        )
    for layer in ("unit", "concurrency", "distributed"):
        c = counts_all[layer]
        ran = sum(c.values()) - c["skipped"]
        rate = round((c["passed"] + c["flaky"]) / ran, 4) if ran else 1.0
        observed = rate
        passed = observed == 1
        yield out(
            ev(
                clock,
                0.01,
                "gate",
                name=f"{layer}.pass_rate",
                metric=f"{layer}.pass_rate",
                observed=observed,
                threshold="== 1",
                passed=passed,
                explanation=f"{layer}.pass_rate = {observed} {'meets' if passed else 'FAILS'} == 1",
            )
        )
    if gates_fail:
        yield out(
            ev(
                clock,
                0.01,
                "gate",
                name="performance.kv_write.p95_ms",
                metric="performance.kv_write.p95_ms",
                observed=61.2,
                threshold="< 50",
                passed=False,
                explanation="performance.kv_write.p95_ms = 61.2 FAILS < 50",
            )
        )
    verdict = "fail" if gates_fail or any(c["failed"] for c in counts_all.values()) else "pass"
    yield out(
        ev(
            clock,
            0.01,
            "run.end",
            verdict=verdict,
            exit_code=0 if verdict == "pass" else 1,
            duration_s=round(clock.t - T0, 3),
            reason="" if verdict == "pass" else "gate distributed.pass_rate failed",
        )
    )


def cluster_session(seconds: int = 30, nodes: int = 5, seed: int = 11) -> Iterator[dict[str, Any]]:
    """A lab session: nodes up, a workload, a kill, a majority/minority partition, latency."""
    rnd = random.Random(seed)
    clock = Clock()
    ids = [f"n{i}" for i in range(1, nodes + 1)]
    for i, node in enumerate(ids):
        yield ev(
            clock,
            0.01,
            "node.state",
            node=node,
            state="up",
            pid=4000 + i,
            port=21000 + i,
            cluster="lab",
        )
    for node in ids:
        role = "leader" if node == "n1" else "follower"
        yield ev(clock, 0.01, "node.role", node=node, role=role, term=2, leader="n1")
    minority, majority = ids[: nodes // 2], ids[nodes // 2 :]
    for sec in range(seconds):
        for i, node in enumerate(ids):
            if node == ids[-1] and 10 <= sec < 14:
                continue  # killed: the monitor samples live nodes only
            yield ev(
                clock,
                0.01,
                "node.sample",
                node=node,
                cpu_percent=round(rnd.uniform(1, 30), 1),
                rss_bytes=30_000_000 + 100_000 * i,
                fds=12 + i,
                threads=4,
                pid=4000 + i,
                state="up",
                cluster="lab",
            )
        cut = 10 <= sec < 20
        ops = rnd.uniform(40, 60) if cut else rnd.uniform(400, 480)
        yield ev(
            clock,
            0.9,
            "workload.sample",
            ops_per_s=round(ops, 1),
            ok=int(ops * (0.6 if cut else 0.99)),
            fail=int(ops * (0.3 if cut else 0.01)),
            info=int(ops * 0.1) if cut else 0,
            p50_ms=round(rnd.uniform(1, 3), 2),
            p95_ms=round(rnd.uniform(5, 9) * (20 if cut else 1), 2),
            p99_ms=round(rnd.uniform(9, 14) * (30 if cut else 1), 2),
        )
        if sec == 5:
            yield ev(
                clock,
                0.01,
                "fault.start",
                id="f1",
                fault="latency",
                target="all",
                params={"ms": 100},
            )
            for a in ids:
                for b in ids:
                    if a != b:
                        yield ev(clock, 0.0, "link.state", src=a, dst=b, faults={"latency_ms": 100})
        if sec == 8:
            yield ev(clock, 0.01, "fault.end", id="f1", fault="latency")
            for a in ids:
                for b in ids:
                    if a != b:
                        yield ev(clock, 0.0, "link.state", src=a, dst=b, faults={})
        if sec == 10:
            flows = [
                [a, b] for a in ids for b in ids if a != b and ((a in minority) != (b in minority))
            ]
            yield ev(
                clock,
                0.01,
                "fault.start",
                id="f2",
                fault="partition",
                target="majority_minority",
                params={"groups": [minority, majority]},
            )
            yield ev(
                clock,
                0.0,
                "partition",
                shape="majority_minority",
                groups=[minority, majority],
                cut=flows,
                mode="drop",
            )
            for a, b in flows:
                yield ev(clock, 0.0, "link.state", src=a, dst=b, faults={"partition": "drop"})
            yield ev(clock, 0.01, "node.role", node="n1", role="candidate", term=3, leader=None)
            yield ev(
                clock,
                0.01,
                "node.role",
                node=majority[0],
                role="leader",
                term=3,
                leader=majority[0],
            )
            yield ev(
                clock,
                0.01,
                "node.state",
                node=ids[-1],
                state="crashed",
                pid=4000 + nodes - 1,
                exit_code=None,
                signal="SIGKILL",
                cluster="lab",
            )
            yield ev(clock, 0.0, "fault.start", id="f3", fault="kill", target=ids[-1], params={})
        if sec == 14:
            yield ev(clock, 0.01, "node.state", node=ids[-1], state="up", pid=5000, cluster="lab")
            yield ev(clock, 0.0, "fault.end", id="f3", fault="kill")
            yield ev(clock, 0.0, "link.state", src=ids[0], dst=ids[1], faults={"loss": 0.2})
            yield ev(clock, 0.0, "link.state", src=ids[1], dst=ids[0], faults={"latency_ms": 250})
    yield ev(
        clock,
        0.01,
        "check.verdict",
        checker="linearizability",
        verdict="valid",
        detail="412 ops, 18 keys: linearizable",
    )


def write(path: Path, events: Iterator[dict[str, Any]]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")
            n += 1
    return n


def main() -> None:
    import sys

    if "--write" not in sys.argv[1:]:
        print("the recorded test streams are already in tests/data; --write rewrites them")
        return
    files = {
        "events_running.jsonl": suite_run(tests_per_layer=6, fail_every=7, stop_after=50),
        "events_finished.jsonl": suite_run(tests_per_layer=6, fail_every=7, gates_fail=True),
        "events_passed.jsonl": suite_run(tests_per_layer=4),
        "events_partitioned.jsonl": cluster_session(seconds=13),
    }
    for name, stream in files.items():
        print(name, write(DATA / name, stream))


if __name__ == "__main__":
    main()
