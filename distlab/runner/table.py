"""The final table of a run: layers, then gates (rich; plain without a TTY)."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from distlab.gates import status
from distlab.results import RunResult

_STYLE = {"passed": "green", "failed": "red", "error": "red", "timeout": "red", "crashed": "red"}


def layer_table(run: RunResult, plain: bool) -> Table:
    table = Table(title="layers", box=box.ASCII if plain else box.SIMPLE_HEAD, title_justify="left")
    for col in ("layer", "required", "outcome", "passed", "failed", "flaky", "skipped", "time"):
        table.add_column(
            col,
            justify="right" if col in ("passed", "failed", "flaky", "skipped", "time") else "left",
        )
    for layer in run.layers:
        c = layer.counts()
        style = "" if plain else _STYLE.get(layer.outcome, "yellow")
        table.add_row(
            layer.layer,
            "yes" if layer.required else "no",
            f"[{style}]{layer.outcome}[/]" if style else layer.outcome,
            str(c["passed"]),
            str(c["failed"] + c["error"]),
            str(c["flaky"]),
            str(c["skipped"]),
            f"{layer.duration_s:.1f}s",
        )
    return table


def gate_table(run: RunResult, plain: bool) -> Table:
    table = Table(title="gates", box=box.ASCII if plain else box.SIMPLE_HEAD, title_justify="left")
    table.add_column("gate", overflow="fold")
    table.add_column("verdict")
    # The explanation already names the observed value and the threshold.
    table.add_column("explanation", overflow="fold")
    for g in run.gates:
        verdict = status(g)
        if not plain:
            colour = {"passed": "green", "failed": "red"}.get(verdict, "yellow")
            verdict = f"[{colour}]{verdict}[/]"
        table.add_row(g.name, verdict, g.explanation)
    return table


def print_summary(run: RunResult, console: Console) -> None:
    """Both tables and the verdict line."""
    plain = console.no_color or not console.is_terminal
    console.print(layer_table(run, plain))
    # Reasons are long (node ids, paths): full lines under the table, not a squeezed column.
    for layer in run.layers:
        if layer.reason:
            console.print(f"  {layer.layer}: {layer.reason}", markup=False, soft_wrap=True)
    if run.gates:
        console.print(gate_table(run, plain))
    else:
        console.print("gates: none evaluated")
