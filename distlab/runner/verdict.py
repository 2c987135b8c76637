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
    """(exit code, verdict, one-line reason).

    The verdict is ``pass``, ``fail``, ``error`` (the lab or the config broke),
    ``stopped`` (the user stopped it) or ``incomplete`` (a gate of a selected
    layer could not be evaluated: not a pass, and not a failure of the system).
    """
    if stopped:
        pending = sum(1 for g in run.gates if g.status == "not-evaluated")
        why = f": {pending} gate(s) not evaluated" if pending else ""
        return int(ExitCode.INTERRUPTED), "stopped", f"stopped before the end{why}"
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
    # A failed gate says most; then one that could not be judged (never a pass).
    for state, code, verdict, said in (
        ("failed", ExitCode.FAILED, "fail", "failed: "),
        ("not-evaluated", ExitCode.INCOMPLETE, "incomplete", ""),
    ):
        found = [g for g in run.gates if g.status == state]
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            return int(code), verdict, f"gate {found[0].name} {said}{found[0].explanation}{more}"
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
        status=verdict.status,
    )
