"""The one-line run summary at the top: what runs, counts, elapsed, ETA, verdict."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from distlab.tui.components.glyphs import duration
from distlab.tui.state import LabState


class RunBar(Static):
    """Title, seed, totals and the verdict so far."""

    def __init__(self, state: LabState, title: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state
        self.title = title

    def refresh_from_state(self) -> None:
        s = self.state
        c = s.counts()
        text = Text()
        if s.seed is not None:
            text.append(f"  seed {s.seed}", style="dim")
        if c["total"]:
            done = c["total"] - c["pending"] - c["running"]
            text.append(f"  {done}/{c['total']}")
            text.append(f" ✓{c['passed']}", style="green")
            if c["failed"] + c["error"]:
                text.append(f" ✗{c['failed'] + c['error']}", style="bold red")
            if c["flaky"]:
                text.append(f" ~{c['flaky']}", style="yellow")
        if s.started is not None:
            text.append(f"  {duration(s.elapsed())}", style="dim")
        verdict = s.overall_verdict()
        if s.ended is None and s.started is not None:
            text.append("  RUNNING", style="bold cyan")
        elif verdict == "pass":
            text.append("  PASS", style="bold green")
        elif verdict is not None:
            text.append(f"  {verdict.upper()}", style="bold red")
        # The title gives way, not the verdict: at 80 columns a replay's long run-dir
        # name pushed PASS/FAIL off the line.
        room = max(8, (self.size.width or 80) - len("distlab ") - text.cell_len)
        title = self.title if len(self.title) <= room else self.title[: room - 1] + "…"
        # One line high (app.tcss): a new text needs no layout of the whole screen.
        self.update(Text.assemble(("distlab ", "bold"), (title, "bold cyan"), text), layout=False)
