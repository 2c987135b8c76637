"""Progress per layer and overall: a bar, counts, elapsed and ETA."""

from __future__ import annotations

from typing import Any

from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from distlab.tui.components.glyphs import COUNT_MARKS, LAYER_STATUS_STYLE, duration
from distlab.tui.state import LabState


class LayerProgress(Static):
    """One row per layer plus the total; redrawn only when the layers changed."""

    def __init__(self, state: LabState, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.state = state

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
                ProgressBar(total=max(c["total"], 1), completed=done if c["total"] else 0),
                f"{done}/{c['total']}",
                _counts(c, s.metrics.get((layer.name, "coverage.percent"))),
            )
        total = s.counts()
        done = total["total"] - total["pending"] - total["running"]
        if layers:
            table.add_row(
                Text("all", style="bold"),
                ProgressBar(total=max(total["total"], 1), completed=done if total["total"] else 0),
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
        self.update(table)


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
