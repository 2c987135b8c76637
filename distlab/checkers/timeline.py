"""An HTML timeline of a counterexample, in the spirit of Porcupine's visualizer.

One lane per process, one bar per op from invoke to completion (an info op
runs to the right edge: it may take effect any time after its invoke). Bars
of the longest linearization are green and numbered in linearization order,
the op that cannot be placed is red, other unplaced ops are amber. Clicking
a bar shows its details. Self-contained: no external scripts or styles.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from distlab.checkers.counterexample import Counterexample
from distlab.checkers.linearizability import LinearizabilityResult
from distlab.checkers.values import show

LANE_H = 26
WIDTH = 1000
LEFT = 70

_STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em} h2{font-size:1.1em;margin-top:2em}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto}
svg text{font:11px monospace}
.op{cursor:pointer} .op:hover rect{stroke:#000;stroke-width:2}
.lin rect{fill:#8fd18f} .blocked rect{fill:#f08080} .open rect{fill:#f5c26b}
.info rect{fill-opacity:.45}
#detail{position:sticky;top:0;background:#fff;border-bottom:1px solid #ccc;padding:.4em 0;min-height:1.4em}
.legend span{display:inline-block;padding:0 .5em;margin-right:.5em}
"""

_SCRIPT = """
document.querySelectorAll('.op').forEach(function(g){
  g.addEventListener('click',function(){
    document.getElementById('detail').textContent=g.getAttribute('data-detail');
  });
});
"""


def render(result: LinearizabilityResult, source: str) -> str:
    """The HTML page for a checked history (one section per invalid key)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(source)}: {result.verdict}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(source)}: {html.escape(result.summary())}</h1>",
        "<p class='legend'><span style='background:#8fd18f'>linearized (in order)</span>"
        "<span style='background:#f08080'>cannot be placed</span>"
        "<span style='background:#f5c26b'>not yet placed</span> faded: info (outcome unknown). "
        "Click a bar for details.</p><div id='detail'></div>",
    ]
    for key in result.invalid:
        if key.counterexample is not None:
            parts.append(_section(key.counterexample))
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts)


def _section(cx: Counterexample) -> str:
    ops = cx.ops
    order = {op.index: n for n, op in enumerate(cx.longest, 1)}
    processes = sorted({str(op.process) for op in ops}, key=_natural)
    lane = {p: n for n, p in enumerate(processes)}
    t0 = min((op.call for op in ops), default=0)
    t1 = max([cx.cut, *(op.call for op in ops)])
    span = max(t1 - t0, 1)
    right = WIDTH - 20

    def x(t: float) -> float:
        return LEFT + (t - t0) / span * (right - LEFT)

    height = LANE_H * len(processes) + 30
    svg = [f"<svg width='{WIDTH}' height='{height}' xmlns='http://www.w3.org/2000/svg'>"]
    for p, n in lane.items():
        y = n * LANE_H + 10
        svg.append(f"<text x='4' y='{y + 16}'>p{html.escape(p)}</text>")
        svg.append(f"<line x1='{LEFT}' x2='{right}' y1='{y + 21}' y2='{y + 21}' stroke='#ddd'/>")
    for op in ops:
        y = lane[str(op.process)] * LANE_H + 10
        x0 = x(op.call)
        x1 = right if op.ret is None else x(op.ret)
        w = max(x1 - x0, 3)
        cls = "lin" if op.index in order else "open"
        if cx.blocked is not None and op.index == cx.blocked.index:
            cls = "blocked"
        if op.ret is None:
            cls += " info"
        label = cx.model.describe(op.f, op.value, op.output)
        if op.index in order:
            label = f"{order[op.index]}. {label}"
        detail = html.escape(cx.describe(op), quote=True)
        svg.append(
            f"<g class='op {cls}' data-detail='{detail}'><title>{detail}</title>"
            f"<rect x='{x0:.1f}' y='{y}' width='{w:.1f}' height='{LANE_H - 6}' rx='3'/>"
            f"<text x='{x0 + 3:.1f}' y='{y + 14}'>{html.escape(label[: max(1, int(w / 7))])}</text></g>"
        )
    svg.append("</svg>")
    return f"<h2>key {html.escape(show(cx.key))}</h2><pre>{html.escape(cx.text())}</pre>" + "".join(
        svg
    )


def _natural(p: str) -> tuple[int, int | str]:
    return (0, int(p)) if p.lstrip("-").isdigit() else (1, p)


def write(result: LinearizabilityResult, source: str, path: Path) -> Path:
    """Write the timeline page to ``path`` and return it."""
    path.write_text(render(result, source), encoding="utf-8")
    return path


def default_path(history_path: Path, out_dir: Path | None = None) -> Path:
    """Where the timeline of ``history_path`` goes: ``<name>.timeline.html`` beside it."""
    name = history_path.name.removesuffix(".jsonl") + ".timeline.html"
    return (out_dir or history_path.parent) / name


__all__: Sequence[str] = ["default_path", "render", "write"]
