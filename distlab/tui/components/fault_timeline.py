"""The fault timeline of the current run: when each fault began and ended."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from distlab.tui.components.tab_panel import TabPanel
from distlab.tui.state import FaultWindow, LabState


def ordered(state: LabState) -> list[FaultWindow]:
    """Active faults first, then ended ones; newest at the top of each, so what is
    in force now is visible on a small screen."""
    windows = sorted(state.faults.values(), key=lambda f: (f.start, f.seq), reverse=True)
    return [f for f in windows if f.end is None] + [f for f in windows if f.end is not None]


def render_timeline(state: LabState, limit: int = 12) -> Table | Text:
    faults = ordered(state)
    if not faults:
        return Text("no faults injected", style="dim")
    origin = state.started or state.first or min(f.start for f in faults)
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for col in ("start", "end", "fault", "target", "params"):
        table.add_column(col, no_wrap=col != "params")
    for f in faults[:limit]:
        active = f.end is None
        table.add_row(
            f"+{f.start - origin:.1f}s",
            Text("active", style="bold red") if active else f"+{f.end - origin:.1f}s",  # type: ignore[operator]
            Text(f.fault, style="bold" if active else ""),
            _target(f.target),
            " ".join(f"{k}={v}" for k, v in f.params.items()),
        )
    return table


def _target(target: Any) -> str:
    if isinstance(target, list | tuple):
        return ",".join(map(str, target))
    return "-" if target is None else str(target)


class FaultTimeline(TabPanel):
    """Faults: active ones first, newest at the top."""

    def __init__(self, state: LabState, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state

    def draw(self) -> None:
        self.update(render_timeline(self.state))
