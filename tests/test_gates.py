"""The gate language and verdicts, on hand-built RunResults."""

from __future__ import annotations

import pytest
from gate_runs import latencies, layer, run

from distlab.config.schema import GateSpec
from distlab.gates import (
    ConditionError,
    aborting,
    evaluate,
    metrics_of,
    parse_condition,
    parse_metric,
    status,
)
from distlab.gates.aggregate import aggregate, percentile
from distlab.results import Metric


def gate(metric: str, *conditions: str, abort: bool = False) -> GateSpec:
    return GateSpec(metric=metric, conditions=list(conditions), abort_on_fail=abort)


def one(spec: GateSpec, r, baseline=None):
    [v] = evaluate([spec], r, baseline)
    return v


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<50", "< 50"),
        ("p(95) <= 200", "p(95) <= 200"),
        ("  avg<=baseline*1.10 ", "avg <= baseline * 1.1"),
        (">= baseline - 5", ">= baseline - 5"),
        ("count != 0", "count != 0"),
        ("< (baseline + 2) * 3", "< (baseline + 2) * 3"),
        ("< 10 - (2 - 1)", "< 10 - (2 - 1)"),
        ("rate >= .99", "rate >= 0.99"),
    ],
)
def test_conditions_parse_and_print_back(text: str, shown: str) -> None:
    assert str(parse_condition(text)) == shown


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("50", "expected a comparison"),
        ("p95 < 3", "unknown aggregate 'p95'"),
        ("p(101) < 3", "from 0 to 100"),
        ("< 3 4", "expected the end"),
        ("< 1/0", "division by zero"),
        ("< __import__", "unknown name"),
        ("< 3; rm -rf /", "unexpected ';'"),
        ("=> 1", "unexpected '=' at column 1; comparisons are < <= > >= == !="),
        ("< " + "(" * 50 + "1" + ")" * 50, "nested deeper"),
    ],
)
def test_bad_conditions_are_one_line_condition_errors(text: str, says: str) -> None:
    with pytest.raises(ConditionError) as e:
        parse_condition(text)
    assert says in str(e.value)
    assert "\n" not in str(e.value)


def test_aggregates() -> None:
    xs = [float(x) for x in range(1, 101)]
    assert percentile(xs, 95) == pytest.approx(95.05)
    assert percentile([3.0], 99) == 3.0
    assert aggregate("med", [1, 2, 10]) == 2
    assert aggregate("avg", [1, 2, 3]) == 2
    assert aggregate("rate", [1, 0, 0, 1]) == 0.5
    assert aggregate("count", []) == 0
    assert aggregate("max", []) is None


def test_percentile_gate_passes_and_fails_with_explanation() -> None:
    perf = layer("performance", {"passed": 1})
    perf.metrics = latencies([float(x) for x in range(1, 101)], f="put")
    r = run(perf)
    ok = one(gate("performance.kv_put_ms", "p(95) < 96"), r)
    assert ok.passed and ok.observed == pytest.approx(95.05)
    assert "p(95) = 95.05 ms over 100 samples, < 96: pass" in ok.explanation
    bad = one(gate("performance.kv_put_ms", "p(95) < 90"), r)
    assert not bad.passed
    assert "needs < 90: FAIL" in bad.explanation


def test_bare_condition_on_many_samples_needs_every_sample() -> None:
    perf = layer("performance", {"passed": 1})
    perf.metrics = latencies([1.0, 2.0, 80.0])
    r = run(perf)
    v = one(gate("performance.kv_put_ms", "< 50"), r)
    assert not v.passed and v.observed == 80.0
    assert "worst of 3 samples" in v.explanation
    assert one(gate("performance.kv_put_ms", "> 0.5"), r).passed
    low = one(gate("performance.kv_put_ms", ">= 2"), r)
    assert not low.passed and low.observed == 1.0


def test_selector_picks_tagged_samples_and_explains_a_miss() -> None:
    perf = layer("performance", {"passed": 1})
    perf.metrics = latencies([1.0, 2.0], f="get") + latencies([70.0, 90.0], f="put")
    r = run(perf)
    assert one(gate("performance.kv_put_ms{f:get}", "max < 5"), r).passed
    assert not one(gate("performance.kv_put_ms{f:put}", "max < 5"), r).passed
    miss = one(gate("performance.kv_put_ms{f:cas}", "max < 5"), r)
    assert not miss.passed
    assert "no samples match the selector (tags seen: f: get, put)" in miss.explanation


def test_builtin_metrics_per_layer() -> None:
    r = run(layer("unit", {"passed": 6, "failed": 1, "flaky": 1, "skipped": 2}, duration_s=3.5))
    m = metrics_of(r)
    assert m["unit.pass_rate"] == [pytest.approx(7 / 8)]
    assert m["unit.failed"] == [1.0]
    assert m["unit.flaky"] == [1.0]
    assert m["unit.skipped"] == [2.0]
    assert m["unit.duration_s"] == [3.5]
    v = one(gate("unit.pass_rate", "== 1"), r)
    assert not v.passed
    assert v.explanation == "unit.pass_rate = 0.875, needs == 1: FAIL"


def test_a_crashed_layer_never_has_a_full_pass_rate() -> None:
    r = run(layer("unit", {"passed": 10}, outcome="crashed", reason="pytest died (signal 9)"))
    assert metrics_of(r)["unit.pass_rate"] == [0.0]
    assert not one(gate("unit.pass_rate", "== 1"), r).passed


def test_unknown_metric_fails_and_lists_what_exists() -> None:
    r = run(layer("unit", {"passed": 1}))
    v = one(gate("unit.pass_rat", "== 1"), r)
    assert not v.passed and v.observed is None
    assert "unknown metric 'unit.pass_rat'; did you mean unit.pass_rate?" in v.explanation
    assert "unit.duration_s" in v.explanation
    assert status(v) == "failed"


def test_gate_on_a_layer_left_out_is_not_selected_and_not_a_pass() -> None:
    r = run(layer("unit", {"passed": 1}))
    v = one(gate("chaos.availability", ">= 0.8"), r)
    assert not v.passed and status(v) == "not-selected"
    assert v.explanation == "not selected: layer 'chaos' was left out of this run"
    # A name that is no layer at all is a typo, not a layer that was left out.
    assert status(one(gate("chaso.availability", ">= 0.8"), r)) == "failed"


def test_gate_on_a_selected_layer_that_did_not_run_is_not_evaluated() -> None:
    chaos = layer("chaos", {}, outcome="not-run", reason="not run: the run was stopped")
    v = one(gate("chaos.pass_rate", "== 1"), run(layer("unit", {"passed": 1}), chaos))
    assert not v.passed and status(v) == "not-evaluated"
    assert v.explanation == (
        "not evaluated: layer 'chaos' did not run (not run: the run was stopped)"
    )


def test_a_stopped_layer_is_judged_over_what_ran_and_labelled_partial() -> None:
    unit = layer("unit", {"passed": 60}, outcome="stopped", reason="stopped after 60 test(s)")
    v = one(gate("unit.pass_rate", "== 1"), run(unit))
    assert v.observed == 1.0  # 60 of 60 that ran, not 0
    assert not v.passed and status(v) == "not-evaluated"
    assert v.explanation.startswith(
        "not evaluated: partial, the layer was stopped after 60 tests: unit.pass_rate = 1"
    )


def test_baseline_gate_fails_after_a_2x_slowdown() -> None:
    def perf_run(scale: float, seed: int):
        perf = layer("performance", {"passed": 3}, duration_s=10.0 * scale)
        perf.metrics = latencies([scale * x for x in (10.0, 11.0, 12.0, 30.0)])
        return run(perf, seed=seed)

    baseline, same, slow = perf_run(1.0, 1), perf_run(1.05, 2), perf_run(2.0, 3)
    gates = [
        gate("performance.duration_s", "<= baseline * 1.10"),
        gate("performance.kv_put_ms", "p(95) <= baseline * 1.10"),
    ]
    assert all(v.passed for v in evaluate(gates, same, baseline))
    slow_verdicts = evaluate(gates, slow, baseline)
    assert [v.passed for v in slow_verdicts] == [False, False]
    duration = slow_verdicts[0]
    assert duration.observed == 20.0
    assert duration.threshold == "<= 11 (baseline * 1.1, baseline 10)"
    assert "needs <= 11" in duration.explanation


def test_baseline_minus_a_constant() -> None:
    def chaos(avail: float):
        c = layer("chaos", {"passed": 1})
        c.metrics = [Metric("availability", avail)]
        return run(c)

    g = gate("chaos.availability", ">= baseline - 0.05")
    assert one(g, chaos(0.93), chaos(0.95)).passed
    assert not one(g, chaos(0.80), chaos(0.95)).passed


def test_no_baseline_yet_is_no_baseline_and_says_why() -> None:
    r = run(layer("unit", {"passed": 1}), branch="feature/x")
    v = one(gate("unit.duration_s", "<= baseline * 1.1"), r, None)
    assert not v.passed and status(v) == "no-baseline"
    assert "no earlier passing run on branch 'feature/x'" in v.explanation


def test_abort_on_fail_is_reported_for_the_runner() -> None:
    r = run(layer("unit", {"passed": 1, "failed": 1}))
    verdicts = evaluate(
        [gate("unit.failed", "== 0", abort=True), gate("unit.tests", "> 0", abort=True)], r
    )
    stop = aborting(verdicts)
    assert stop is not None and stop.metric == "unit.failed"
    assert aborting(evaluate([gate("unit.tests", "> 0", abort=True)], r)) is None


def test_one_verdict_per_condition() -> None:
    r = run(layer("unit", {"passed": 4}))
    verdicts = evaluate([gate("unit.tests", "> 0", "< 3")], r)
    assert [(v.name, v.passed) for v in verdicts] == [
        ("unit.tests > 0", True),
        ("unit.tests < 3", False),
    ]


def test_metric_names_and_selectors() -> None:
    ref = parse_metric("performance.kv_put_ms{f:put, node:n1}")
    assert ref.layer == "performance" and ref.selector == (("f", "put"), ("node", "n1"))
    for bad in ("pass_rate", "unit.pass_rate{f}", "unit.x{", "unit. x"):
        with pytest.raises(ValueError):
            parse_metric(bad)


def test_a_recorded_metric_shadows_a_builtin_of_the_same_name() -> None:
    unit = layer("unit", {"passed": 3})
    unit.metrics = [Metric("tests", 99.0)]
    r = run(unit)
    assert metrics_of(r)["unit.tests"] == [99.0]
    assert one(gate("unit.tests", "== 99"), r).passed


def test_the_release_verdict_is_incomplete_when_a_selected_layer_was_not_judged() -> None:
    from distlab.runner.verdict import decide

    chaos = layer("chaos", {}, outcome="not-run", reason="not run: no time left", required=False)
    r = run(layer("unit", {"passed": 3}), chaos)
    r.gates = evaluate(
        [gate("unit.pass_rate", "== 1"), gate("chaos.pass_rate", "== 1"), gate("perf.x", "< 1")],
        r,
    )
    assert [status(v) for v in r.gates] == ["passed", "not-evaluated", "failed"]
    assert decide(r, [], stopped=False)[:2] == (1, "fail")  # a failed gate says most
    r.gates = r.gates[:2]
    code, verdict, reason = decide(r, [], stopped=False)
    assert (code, verdict) == (4, "incomplete")
    assert reason == (
        "gate chaos.pass_rate == 1 not evaluated: layer 'chaos' did not run (not run: no time left)"
    )
    assert decide(r, [], stopped=True)[:2] == (130, "stopped")
    # Left out on purpose (--layers unit): listed, and no obstacle to a pass.
    alone = run(layer("unit", {"passed": 3}))
    alone.gates = evaluate([gate("unit.pass_rate", "== 1"), gate("chaos.pass_rate", "== 1")], alone)
    assert [status(v) for v in alone.gates] == ["passed", "not-selected"]
    assert decide(alone, [], stopped=False)[:2] == (0, "pass")
