"""Judge gates against a run (and its baseline) and explain every verdict.

A verdict always names the metric, the observed value, the threshold and
its state (``distlab.results.GATE_STATES``). Only ``passed`` is a pass:

- an unknown metric fails, and says which metrics exist (and the closest);
- a gate on a layer left out of this run on purpose (``--layers unit``) is
  *not selected*: listed, not judged, and no obstacle to a pass;
- a gate on a layer that was selected but did not run (an ``abort_on_fail``
  gate stopped the run, the user stopped it) is *not evaluated*; one on a
  layer stopped part-way is judged over the tests that ran, labelled
  partial, and *not evaluated* too. Either makes the release INCOMPLETE;
- a baseline-relative gate with no baseline yet (no earlier passing run on
  the branch, or that run has no such samples) is *no baseline*: this run
  may become the baseline, so it does not stop a pass either.

``status(verdict)`` is the state, for reports.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Sequence

from distlab.config.schema import LAYERS, GateSpec
from distlab.gates.aggregate import observed_value, reference_value
from distlab.gates.expr import Condition, ConditionError, compare, compute, parse_condition
from distlab.gates.metrics import MetricRef, Selection, metrics_of, parse_metric, select
from distlab.results import GateVerdict, LayerResult, RunResult

NOT_EVALUATED = "not evaluated: "
NOT_SELECTED = "not selected: "
NO_BASELINE = "no baseline: "
_MAX_LISTED = 12


def status(verdict: GateVerdict) -> str:
    """The verdict's state, one of ``distlab.results.GATE_STATES``."""
    return verdict.status


def layer_of(gate: GateSpec) -> str:
    """The layer a gate judges (the first part of its metric name)."""
    return gate.metric.split(".", 1)[0].split("{", 1)[0].strip()


def evaluate(
    gates: Sequence[GateSpec], run: RunResult, baseline: RunResult | None = None
) -> list[GateVerdict]:
    """One verdict per condition of every gate, in config order."""
    verdicts: list[GateVerdict] = []
    known: list[str] | None = None
    for gate in gates:
        for text in gate.conditions:
            name = f"{gate.metric} {text}"
            try:
                ref = parse_metric(gate.metric)
                condition = parse_condition(text)
            except (ValueError, ConditionError) as e:  # a bad metric name, a bad condition
                verdicts.append(_verdict(gate, name, text, None, False, str(e)))
                continue
            selection = select(run, ref)
            if not selection.known:
                if known is None:
                    known = sorted(metrics_of(run))
                verdicts.append(_unknown(gate, name, text, ref, run, known))
                continue
            verdict = _judge(gate, name, condition, selection, run, baseline)
            layer = run.layer(ref.layer)
            if layer is not None and layer.outcome == "stopped" and verdict.status != "no-baseline":
                # Judged over the tests that ran before the stop: shown, never a verdict.
                verdict = dataclasses.replace(
                    verdict,
                    status="not-evaluated",
                    explanation=f"{NOT_EVALUATED}partial, the layer was stopped after "
                    f"{_ran(layer)}: {verdict.explanation}",
                )
            verdicts.append(verdict)
    return verdicts


def _ran(layer: LayerResult) -> str:
    n = len(layer.tests)
    return f"{n} test{'' if n == 1 else 's'}"


def aborting(verdicts: Iterable[GateVerdict]) -> GateVerdict | None:
    """The first failed verdict of an ``abort_on_fail`` gate: the runner stops there."""
    return next((v for v in verdicts if v.abort_on_fail and not v.passed), None)


def _judge(
    gate: GateSpec,
    name: str,
    condition: Condition,
    selection: Selection,
    run: RunResult,
    baseline: RunResult | None,
) -> GateVerdict:
    ref = selection.ref
    label = f"{ref} {condition.aggregate_label}".strip()
    reference: float | None = None
    if condition.uses_baseline:
        reason = _no_baseline(condition, ref, run, baseline)
        if isinstance(reason, str):
            observed = observed_value(condition, selection.samples, 0.0)
            return _verdict(
                gate, name, str(condition), observed, False, NO_BASELINE + reason, "no-baseline"
            )
        reference = reason
    try:
        threshold = compute(condition.threshold, reference)
    except ConditionError as e:
        return _verdict(gate, name, str(condition), None, False, f"{label}: {e}; FAIL")
    threshold_text = f"{condition.op} {_num(threshold)}"
    if reference is not None:
        threshold_text += f" ({condition.threshold}, baseline {_num(reference)})"
    observed = observed_value(condition, selection.samples, threshold)
    if observed is None:
        return _verdict(
            gate, name, threshold_text, None, False, _no_samples(label, selection) + "; FAIL"
        )
    passed = compare(condition.op, observed, threshold)
    unit = f" {selection.unit}" if selection.unit else ""
    over = _over(condition, selection.samples)
    if passed:
        explanation = f"{label} = {_num(observed)}{unit}{over}, {threshold_text}: pass"
    else:
        explanation = f"{label} = {_num(observed)}{unit}{over}, needs {threshold_text}: FAIL"
    return _verdict(gate, name, threshold_text, observed, passed, explanation)


def _no_baseline(
    condition: Condition, ref: MetricRef, run: RunResult, baseline: RunResult | None
) -> float | str:
    """The baseline's value, or why there is none."""
    if baseline is None:
        branch = f" on branch {run.branch!r}" if run.branch else ""
        return f"no earlier passing run{branch} to compare with ({condition})"
    value = reference_value(condition, select(baseline, ref).samples)
    if value is None:
        return f"the baseline run (seed {baseline.seed}) has no samples of {ref} ({condition})"
    return value


def _unknown(
    gate: GateSpec, name: str, text: str, ref: MetricRef, run: RunResult, known: list[str]
) -> GateVerdict:
    layer = run.layer(ref.layer)
    if ref.layer in LAYERS and layer is None:
        why = f"layer {ref.layer!r} was left out of this run"
        return _verdict(gate, name, text, None, False, NOT_SELECTED + why, "not-selected")
    if layer is not None and layer.outcome in ("not-run", "stopped"):
        why = f"layer {ref.layer!r} did not run" + (f" ({layer.reason})" if layer.reason else "")
        if layer.outcome == "stopped":
            why = f"layer {ref.layer!r} was stopped after {_ran(layer)} with no {ref.name}"
        return _verdict(gate, name, text, None, False, NOT_EVALUATED + why, "not-evaluated")
    close = difflib.get_close_matches(ref.name, known, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    listed = ", ".join(known[:_MAX_LISTED])
    if len(known) > _MAX_LISTED:
        listed += f" and {len(known) - _MAX_LISTED} more"
    return _verdict(
        gate,
        name,
        text,
        None,
        False,
        f"unknown metric {ref.name!r}{hint}; metrics in this run: {listed or 'none'}; FAIL",
    )


def _no_samples(label: str, selection: Selection) -> str:
    if selection.ref.selector and selection.tag_values:
        seen = "; ".join(
            f"{k}: {', '.join(sorted(v))}" for k, v in sorted(selection.tag_values.items())
        )
        return f"{label}: no samples match the selector (tags seen: {seen})"
    if selection.ref.selector:
        return f"{label}: no samples match the selector (the samples have no tags)"
    return f"{label}: no samples recorded"


def _over(condition: Condition, samples: Sequence[float]) -> str:
    if len(samples) <= 1:
        return ""
    if condition.aggregate:
        return f" over {len(samples)} samples"
    return f" (worst of {len(samples)} samples)"


def _verdict(
    gate: GateSpec,
    name: str,
    threshold: str,
    observed: float | None,
    passed: bool,
    why: str,
    state: str = "",
) -> GateVerdict:
    return GateVerdict(
        name=name,
        metric=gate.metric,
        threshold=threshold,
        observed=observed,
        passed=passed,
        explanation=why,
        abort_on_fail=gate.abort_on_fail,
        config_line=gate.line or None,
        status=state,
    )


def _num(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return (
        f"{value:.4g}"
        if abs(value) < 1e-3 or abs(value) >= 1e6
        else f"{value:.4f}".rstrip("0").rstrip(".")
    )
