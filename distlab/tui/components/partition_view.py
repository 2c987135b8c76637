"""Who can talk to whom: the partition's groups and a connectivity matrix.

Matrix cell (row src, column dst) is one directed link: ``·`` healthy,
``X`` cut, ``~`` slowed (latency, bandwidth), ``%`` lossy, ``!`` stalled.
Marks, not only colours, so it reads with NO_COLOR.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from distlab.tui.components.tab_panel import TabPanel
from distlab.tui.state import LabState

LEGEND = "· ok  X cut  ~ slow  % lossy  ! stalled"


def link_mark(faults: dict[str, Any] | None, cut: bool) -> tuple[str, str]:
    """(mark, style) of one directed link."""
    if cut or (faults and faults.get("partition")):
        return "X", "bold red"
    if not faults:
        return "·", "green"
    if faults.get("stall"):
        return "!", "bold red"
    if faults.get("loss"):
        return "%", "yellow"
    return "~", "yellow"


def render_partition(state: LabState) -> RenderableType:
    nodes = sorted(state.nodes, key=_node_order) or sorted(
        {n for link in state.links for n in link}, key=_node_order
    )
    if not nodes:
        return Text("no cluster yet", style="dim")
    cut = {tuple(c) for c in (state.partition or {}).get("cut", [])}
    lines: list[RenderableType] = []
    if state.partition:
        groups = state.partition.get("groups") or []
        head = Text.assemble(
            ("partition ", "bold"), (str(state.partition.get("shape")), "bold red"), ": "
        )
        for i, g in enumerate(groups):
            if i:
                head.append(" | ", style="bold red")
            head.append("[" + " ".join(g) + "]")
        lines.append(head)
    else:
        lines.append(Text("network whole: every node reaches every node", style="green"))
    width = max(len(n) for n in nodes) + 1
    header = Text(" " * (width + 1))
    for n in nodes:
        header.append(n.rjust(width))
    lines.append(header)
    for src in nodes:
        row = Text(src.ljust(width + 1), style="bold")
        for dst in nodes:
            if src == dst:
                row.append(" " * (width - 1) + "-", style="dim")
                continue
            glyph, style = link_mark(state.links.get((src, dst)), (src, dst) in cut)
            row.append(" " * (width - 1))
            row.append(glyph, style=style)
        lines.append(row)
    slow = [
        f"{a}->{b} {_faults(f)}"
        for (a, b), f in sorted(state.links.items())
        if f and not f.get("partition")
    ]
    if slow:
        shown = ", ".join(slow[:4]) + (f" (+{len(slow) - 4} more)" if len(slow) > 4 else "")
        lines.append(Text(shown, style="yellow"))
    lines.append(Text(LEGEND, style="dim"))
    return Group(*lines)


def _faults(f: dict[str, Any]) -> str:
    parts = []
    if "latency_ms" in f:
        parts.append(f"{f['latency_ms']:g}ms")
    if "loss" in f:
        parts.append(f"loss {float(f['loss']):.0%}")
    if "bandwidth_kbit_s" in f:
        parts.append(f"{f['bandwidth_kbit_s']:g}kbit/s")
    if f.get("stall"):
        parts.append("stall")
    return " ".join(parts) or ",".join(f)


def _node_order(node: str) -> tuple[int, str]:
    digits = "".join(ch for ch in node if ch.isdigit())
    return (int(digits) if digits else 0, node)


class PartitionView(TabPanel):
    """The partition groups and the link matrix."""

    def __init__(self, state: LabState, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state

    def draw(self) -> None:
        self.update(render_partition(self.state))
