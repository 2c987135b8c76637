"""From layer results and gate verdicts to the run's verdict and exit code.

Exit codes (DESIGN.md): 0 gates passed, 1 a gate or a required layer
failed, 2 bad usage or config, 3 the lab broke, 130 stopped. When several
apply, the one that says most about what to fix first wins: 2, then 3,
then 1.
"""

from __future__ import annotations

from distlab import events
from distlab.config.schema import GateSpec
from distlab.errors import ExitCode
from distlab.gates import evaluate
from distlab.results import GateVerdict, RunResult
from distlab.runner.layer import LayerRun


def evaluate_gates(
    gates: list[GateSpec], run: RunResult, baseline: RunResult | None
) -> list[GateVerdict]:
    """Verdicts of ``gates`` over ``run``, in config order."""
    return evaluate(gates, run, baseline)


def decide(run: RunResult, layer_runs: list[LayerRun], stopped: bool) -> tuple[int, str, str]:
    """(exit code, verdict ``pass``/``fail``/``error``, one-line reason)."""
    if stopped:
        return int(ExitCode.INTERRUPTED), "error", "stopped before the end"
    for lr in layer_runs:
        if lr.usage_error:
            return int(ExitCode.USAGE), "error", f"{lr.result.layer}: {lr.usage_error}"
    for lr in layer_runs:
        if lr.lab_error:
            return int(ExitCode.LAB), "error", f"the lab broke in {lr.result.layer}: {lr.lab_error}"
    for layer in run.layers:
        if layer.required and layer.outcome not in ("passed", "not-run"):
            why = f": {layer.reason}" if layer.reason else ""
            return (
                int(ExitCode.FAILED),
                "fail",
                f"required layer {layer.layer} {layer.outcome}{why}",
            )
    failed = [g for g in run.gates if not g.passed]
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        return (
            int(ExitCode.FAILED),
            "fail",
            f"gate {failed[0].name} failed: {failed[0].explanation}{more}",
        )
    return int(ExitCode.OK), "pass", ""


def gate_event(verdict: GateVerdict) -> events.GateResult:
    """A verdict as a ``gate`` event."""
    return events.GateResult(
        name=verdict.name,
        metric=verdict.metric,
        observed=verdict.observed,
        threshold=verdict.threshold,
        passed=verdict.passed,
        explanation=verdict.explanation,
    )
