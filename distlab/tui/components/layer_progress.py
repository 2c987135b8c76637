"""Progress per layer and overall: a bar, counts, elapsed and ETA."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.console import Console, ConsoleOptions
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from distlab.tui.components.glyphs import COUNT_MARKS, LAYER_STATUS_STYLE, duration
from distlab.tui.state import LabState, LayerInfo

# Done and to-go differ by glyph, not only by colour: Rich's bar draws both as ━
# and tells them apart by colour alone, so on 16 colours (where its pink is bright
# red and its green is the grey of the empty part) and with NO_COLOR a finished
# bar looked empty and a running one like an error.
DONE_GLYPH, TODO_GLYPH = "━", "─"
TODO_STYLE = "bright_black"
BAR_STYLE = {
    "running": "cyan",
    "passed": "green",
    "failed": "red",
    "error": "red",
    "timeout": "red",
    "stopped": "yellow",
    "empty": "yellow",
}


class LayerProgress(Static):
    """One row per layer plus the total; redrawn only when the layers changed."""

    def __init__(self, state: LabState, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.state = state
        self._rows = 0

    def refresh_from_state(self) -> None:
        s = self.state
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column("layer", width=11, no_wrap=True)
        table.add_column("bar", ratio=1, min_width=8)
        table.add_column("done", justify="right", no_wrap=True)
        table.add_column("counts", no_wrap=True)
        layers = s.ordered_layers()
        for layer in layers:
            c = layer.counts()
            done = layer.done()
            table.add_row(
                Text(layer.name, style=LAYER_STATUS_STYLE.get(layer.status, "")),
                Bar(done, c["total"], layer.status),
                f"{done}/{c['total']}",
                _counts(c, s.metrics.get((layer.name, "coverage.percent"))),
            )
        total = s.counts()
        done = total["total"] - total["pending"] - total["running"]
        if layers:
            table.add_row(
                Text("all", style="bold"),
                Bar(done, total["total"], _run_status(layers, s.overall_verdict())),
                f"{done}/{total['total']}",
                Text.assemble(
                    _coverage(s.metrics.get(("run", "coverage.percent"))),
                    ("elapsed ", "dim"),
                    duration(s.elapsed()),
                    ("  eta ", "dim"),
                    _eta(s.eta(), sum(1 for lay in layers if not lay.tests)),
                ),
            )
        else:
            table.add_row(Text("no run yet: press a to run all layers", style="dim"), "", "", "")
        # A row a line (no column wraps): the screen is laid out again only when the
        # height changes, not for every new count.
        self.update(table, layout=table.row_count != self._rows)
        self._rows = table.row_count


class Bar:
    """A one-line progress bar as wide as its cell: ``━`` done, ``─`` to go."""

    def __init__(self, done: int, total: int, status: str) -> None:
        self.done = done
        self.total = total
        self.style = Style.parse(BAR_STYLE.get(status, TODO_STYLE))

    def filled(self, width: int) -> int:
        """Cells drawn as done: none at 0, all only when everything is done."""
        if self.total <= 0 or self.done <= 0:
            return 0
        if self.done >= self.total:
            return width
        return min(max(round(width * self.done / self.total), 1), width - 1)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        width = options.max_width
        filled = self.filled(width)
        yield Segment(DONE_GLYPH * filled, self.style)
        yield Segment(TODO_GLYPH * (width - filled), Style.parse(TODO_STYLE))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(4, options.max_width)


def _run_status(layers: list[LayerInfo], verdict: str | None) -> str:
    """The whole run's status, for the colour of its bar."""
    statuses = {layer.status for layer in layers}
    if "running" in statuses:
        return "running"
    if verdict == "fail" or statuses & {"failed", "error", "timeout"}:
        return "failed"
    if verdict == "pass" or statuses == {"passed"}:
        return "passed"
    return "idle"


def _eta(seconds: float | None, uncollected: int) -> str:
    """The ETA at the pace so far. Layers not collected yet are not in it, so it is
    only a floor then, and says how many layers it leaves out: "≥4s" alone read as
    "almost done" with minutes to go."""
    if seconds is None:
        return "-"
    shown = f"{seconds:.0f}s" if seconds < 60 else duration(seconds)
    if not uncollected:
        return shown
    return f"≥{shown} +{uncollected} layer{'s' if uncollected > 1 else ''}"


def _counts(c: dict[str, int], coverage: tuple[Any, str] | None = None) -> Text:
    text = Text()
    for key, glyph, style in COUNT_MARKS:
        if c[key]:
            text.append(f"{glyph}{c[key]} ", style=style)
    text.append(_coverage(coverage))
    return text


def _coverage(metric: tuple[Any, str] | None) -> Text:
    """``cov 87%`` once the runner has measured a layer (or the run): coverage.percent."""
    if metric is None or not isinstance(metric[0], int | float):
        return Text()
    return Text.assemble(("cov ", "dim"), f"{metric[0]:.0f}% ")
