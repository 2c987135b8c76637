"""Gates: each one's observed value, threshold and pass/fail; the release verdict, big."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable, Static

from distlab.tui.state import LabState

# The result column (6 wide): only PASS is a pass.
GATE_MARKS = {
    "passed": Text("PASS", style="bold green"),
    "failed": Text("FAIL", style="bold red"),
    "not-evaluated": Text("N/E", style="bold yellow"),
    "not-selected": Text("unsel", style="dim"),
    "no-baseline": Text("no bl", style="dim"),
    "pending": Text("…", style="dim"),  # before the first run: what will be judged
}


class VerdictBanner(Static):
    """The overall release verdict in a box that cannot be missed."""

    def __init__(self, state: LabState, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state

    def refresh_from_state(self) -> None:
        verdict = self.state.overall_verdict()
        gates = list(self.state.gates.values())
        failed = sum(1 for g in gates if g.status == "failed")
        passed = sum(1 for g in gates if g.status == "passed")
        pending = sum(1 for g in gates if g.status == "not-evaluated")
        self.remove_class("-pass", "-fail", "-pending")
        if verdict == "pass":
            self.add_class("-pass")
            of = "" if passed == len(gates) else f" of {len(gates)}"
            text = Text(f"RELEASE: PASS  ({passed}{of} gates passed)", style="bold")
        elif verdict in ("incomplete", "stopped"):
            # Not a pass and not a failure of the system: nothing was judged there.
            self.add_class("-pending")
            why = f"{pending} of {len(gates)} gates not evaluated"
            text = Text(f"RELEASE: {verdict.upper()}  ({why})", style="bold")
        elif verdict in ("fail", "error"):
            self.add_class("-fail")
            why = (
                f"{failed} of {len(gates)} gates failed"
                if failed
                else (self.state.reason or verdict)
            )
            text = Text(f"RELEASE: FAIL  ({why})", style="bold")
        else:
            self.add_class("-pending")
            text = Text("RELEASE: pending (gates are judged when the layers finish)")
        self.update(text)


class GatesTable(DataTable[Any]):
    """One row per gate, keyed by its name."""

    def __init__(self, state: LabState, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.state = state

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        # Widths are set from the gates we have rather than measured by
        # DataTable when idle: a frame drawn between add_row and that
        # measurement cut the cursor row to the old width ("unit" for
        # "unit.pass_rate"), and it stayed cut.
        names = [len(n) for n in self.state.gates] or [4]
        thresholds = [len(g.threshold) for g in self.state.gates.values()] or [9]
        observed = [len(_observed(g)) for g in self.state.gates.values()] or [8]
        widths = {
            "result": 6,
            "gate": max(*names, 4),
            "observed": max(*observed, 8),
            "threshold": max(*thresholds, 9),
        }
        for key, width in widths.items():
            self.add_column(key, key=key, width=width)

    def refresh_from_state(self) -> None:
        if {k.value for k in self.rows} != set(self.state.gates):
            self.clear(columns=True)
            self._add_columns()
        for name, gate in self.state.gates.items():
            mark = GATE_MARKS.get(gate.status, Text("n/a", style="dim"))
            row = (mark, name, _observed(gate), gate.threshold)
            if name in self.rows:
                for key, value in zip(
                    ("result", "gate", "observed", "threshold"), row, strict=True
                ):
                    self.update_cell(name, key, value)
            else:
                self.add_row(*row, key=name)
        for row_key in [k for k in self.rows if k.value not in self.state.gates]:
            self.remove_row(row_key)


def _observed(gate: Any) -> str:
    if gate.observed is None:
        return "-"
    return f"{gate.observed:g}" if isinstance(gate.observed, float) else str(gate.observed)
