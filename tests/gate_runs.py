"""Hand-built RunResults for the gates and report tests (no runner needed)."""

from __future__ import annotations

from distlab.results import Attempt, LayerResult, Metric, RunResult, TestResult


def layer(
    name: str, outcomes: dict[str, int], *, duration_s: float = 1.0, **kw: object
) -> LayerResult:
    """A layer with ``outcomes[o]`` tests of each outcome, in a test file per layer."""
    tests = []
    for outcome, n in outcomes.items():
        for i in range(n):
            tests.append(
                TestResult(
                    nodeid=f"suites/{name}/test_{name}.py::TestThing::test_{outcome}_{i}",
                    layer=name,
                    outcome=outcome,
                    duration_s=0.25,
                    file=f"suites/{name}/test_{name}.py",
                    line=10 + i,
                    message="AssertionError: boom" if outcome in ("failed", "error") else "",
                    longrepr="Traceback...\nAssertionError: boom" if outcome != "passed" else "",
                    skip_reason="needs postgres" if outcome == "skipped" else "",
                    attempts=[Attempt(message="first try failed", longrepr="tb")]
                    if outcome == "flaky"
                    else [],
                )
            )
    bad = outcomes.get("failed", 0) or outcomes.get("error", 0)
    return LayerResult(
        layer=name,
        outcome=kw.pop("outcome", "failed" if bad else "passed"),  # type: ignore[arg-type]
        duration_s=duration_s,
        tests=tests,
        **kw,  # type: ignore[arg-type]
    )


def latencies(values: list[float], **tags: str) -> list[Metric]:
    return [
        Metric("kv_put_ms", v, "ms", "suites/performance/test_kv.py::test_put", dict(tags))
        for v in values
    ]


def run(
    *layers: LayerResult, seed: int = 7, branch: str = "main", started: float = 1000.0
) -> RunResult:
    return RunResult(
        seed=seed, started=started, finished=started + 5, branch=branch, layers=list(layers)
    )
