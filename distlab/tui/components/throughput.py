"""Ops/s over time with fault windows marked, latency percentiles, error and unknown
rates, and the live checker verdicts."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from distlab.tui.components.tab_panel import TabPanel
from distlab.tui.state import EXPECTED_INVALID, LabState

BARS = " ▁▂▃▄▅▆▇█"
VERDICT_STYLE = {
    "valid": "bold green",
    "invalid": "bold red",
    "unknown": "yellow",
    EXPECTED_INVALID: "green",  # a test that asserted a violation found it: no alarm
}


def verdict_text(verdict: str, detail: str) -> str:
    """``VALID (1234 ops)``: a verdict says how much history it judged (an empty one
    proves nothing); ``INVALID (expected)`` where a passing test asserted the violation."""
    if detail.startswith("no verdict:"):
        # Nothing succeeded, so nothing was judged: say so, never a bare verdict word.
        return detail.split(" (", 1)[0].replace("no verdict", "NO VERDICT", 1)
    shown = "INVALID (expected)" if verdict == EXPECTED_INVALID else verdict.upper()
    judged = re.search(r"\((\d+) ops", detail)
    return f"{shown} ({judged.group(1)} ops)" if judged else shown


def sparkline(values: list[float], top: float) -> str:
    """One character per value, scaled to ``top``."""
    if top <= 0:
        return "▁" * len(values)
    steps = len(BARS) - 1
    return "".join(BARS[max(1, min(steps, round(v / top * steps)))] for v in values)


def render_compact(state: LabState, width: int) -> RenderableType:
    """Two lines for the Cluster tab: ops/s sparkline, error rates, checker verdicts."""
    samples = list(state.samples)
    last = samples[-1] if samples else None
    head = Text.assemble(("ops/s ", "bold"), f"{last.ops_per_s:>5.0f} " if last else "    - ")
    spark_width = max(10, width - len(head) - 2)
    values = [x.ops_per_s for x in samples[-spark_width:]]
    head.append(sparkline(values, max(values, default=0)), style="cyan")
    fail, info = state.error_rates()
    tail = Text.assemble(
        ("errors ", "bold"),
        (f"{fail:.1%}", "red" if fail else ""),
        ("  unknown ", "bold"),
        (f"{info:.1%}", "yellow" if info else ""),
        ("  p99 ", "bold"),
        _ms(last.p99_ms if last else None),
    )
    for checker, (verdict, detail) in sorted(state.checks.items()):
        tail.append(f"  {checker} ", style="bold")
        tail.append(verdict_text(verdict, detail), style=VERDICT_STYLE.get(verdict, ""))
    return Group(head, tail)


def render_throughput(state: LabState, width: int) -> RenderableType:
    samples = list(state.samples)[-max(10, width - 8) :]
    lines: list[RenderableType] = []
    if not samples:
        lines.append(Text("no workload samples yet", style="dim"))
    else:
        values = [s.ops_per_s for s in samples]
        top = max(values)
        windows = list(state.faults.values())
        # A sample is "in a fault" when any fault window overlaps the second before it.
        marks = "".join(
            "^"
            if any(w.start <= s.ts and (w.end is None or w.end >= s.ts - 1.0) for w in windows)
            else " "
            for s in samples
        )
        last = samples[-1]
        lines.append(Text.assemble(("ops/s ", "bold"), f"now {last.ops_per_s:.0f}  max {top:.0f}"))
        lines.append(Text(sparkline(values, top), style="cyan"))
        if "^" in marks:
            lines.append(Text.assemble((marks, "bold red"), ("  ^ fault active", "dim")))
        lines.append(
            Text.assemble(
                ("latency ", "bold"),
                f"p50 {_ms(last.p50_ms)}  p95 {_ms(last.p95_ms)}  p99 {_ms(last.p99_ms)}",
            )
        )
        fail, info = state.error_rates()
        total = sum(state.totals.values())
        lines.append(
            Text.assemble(
                ("ops ", "bold"),
                f"{total} ",
                ("errors ", "bold"),
                (f"{fail:.1%}", "red" if fail else ""),
                ("  unknown ", "bold"),
                (f"{info:.1%}", "yellow" if info else ""),
            )
        )
    for checker, (verdict, detail) in sorted(state.checks.items()):
        lines.append(
            Text.assemble(
                (f"{checker} ", "bold"),
                (verdict_text(verdict, ""), VERDICT_STYLE.get(verdict, "")),
                f"  {detail}",
            )
        )
    return Group(*lines)


def _ms(v: Any) -> str:
    return "-" if v is None else f"{float(v):.1f}ms"


class ThroughputPanel(TabPanel):
    """The workload's live figures."""

    def __init__(self, state: LabState, *, compact: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state
        self.compact = compact

    def refresh_from_state(self) -> None:
        if self.compact:
            # Only where there is a workload: a suites run has none. Decided even on a
            # hidden tab: a panel not displayed would never be shown to catch up.
            self.display = bool(self.state.samples or self.state.checks)
        super().refresh_from_state()

    def draw(self) -> None:
        width = self.size.width or 80
        if self.compact:
            self.update(render_compact(self.state, width))
        else:
            self.update(render_throughput(self.state, width))
