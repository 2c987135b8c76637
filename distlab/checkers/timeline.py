"""An HTML timeline of a counterexample, in the spirit of Porcupine's visualizer.

Per invalid key, two drawings:

- an **overview** of the key's whole history: how many ops ran over time
  (a bar per time bin), with the zoomed window shaded and the cut marked;
- the **window** around the violation, zoomed to fill the width: the last
  linearized ops, the op that cannot take effect, and every op concurrent
  with it. One lane per process, one bar per op from invoke to completion (an
  op still open at the cut runs to the right edge, faded); bars of the
  longest linearization are green and numbered in linearization order, the
  op that cannot be placed is red, other unplaced ops are amber. A time axis
  below, relative to the key's first op. Clicking a bar shows its details.

Self-contained: no external scripts or styles.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from distlab.checkers.counterexample import RUNNING, Counterexample
from distlab.checkers.history import Op
from distlab.checkers.linearizability import LinearizabilityResult
from distlab.checkers.values import show

LANE_H = 26
WIDTH = 1000
LEFT = 70

_STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em;overflow-wrap:anywhere} h2{font-size:1.1em;margin-top:2em}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto}
svg text{font:11px monospace}
.op{cursor:pointer} .op:hover rect{stroke:#000;stroke-width:2}
.lin rect{fill:#8fd18f} .blocked rect{fill:#f08080} .open rect{fill:#f5c26b}
.info rect{fill-opacity:.45} .running rect{fill-opacity:.6;stroke:#999;stroke-dasharray:3 2}
.note{color:#555;margin:.3em 0}
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
        "<span style='background:#f5c26b'>not yet placed</span> faded: outcome unknown (info) "
        "or still running at the cut. Above each drawing, the key's whole history with the "
        "window shaded. Click a bar for details.</p><div id='detail'></div>",
    ]
    for key in result.invalid:
        if key.counterexample is not None:
            parts.append(_section(key.counterexample))
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts)


def _nice_step(span: float, ticks: int = 10) -> float:
    """A round tick spacing (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks."""
    raw = max(span / ticks, 1e-9)
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def _axis(
    t0: float, lo: float, hi: float, x: Callable[[float], float], y: float, cx: Counterexample
) -> list[str]:
    """Tick marks and labels for times ``lo..hi`` (labels relative to ``t0``)."""
    name, size = cx.unit()
    step = _nice_step((hi - lo) / size) * size
    out = [f"<line x1='{x(lo):.1f}' x2='{x(hi):.1f}' y1='{y}' y2='{y}' stroke='#888'/>"]
    tick = math.ceil((lo - t0) / step) * step + t0
    while tick <= hi:
        label = f"{(tick - t0) / size:.6g}"
        out.append(
            f"<line x1='{x(tick):.1f}' x2='{x(tick):.1f}' y1='{y}' y2='{y + 5}' stroke='#888'/>"
            f"<text x='{x(tick):.1f}' y='{y + 17}' text-anchor='middle' fill='#555'>{label}</text>"
        )
        tick += step
    out.append(f"<text x='{WIDTH - 4}' y='{y + 17}' text-anchor='end' fill='#555'>{name}</text>")
    return out


def _overview(cx: Counterexample, t0: float, w0: float, w1: float) -> str:
    """The key's whole history as op counts per time bin, the window shaded."""
    ops = cx.history or cx.ops
    t_end = max([cx.cut, *(op.call for op in ops), *(op.ret for op in ops if op.ret is not None)])
    span = max(t_end - t0, 1)
    right = WIDTH - 20
    bins = 200
    counts = [0] * bins
    for op in ops:
        counts[min(bins - 1, int((op.call - t0) / span * bins))] += 1
    top = max(counts) or 1

    def x(t: float) -> float:
        return LEFT + (t - t0) / span * (right - LEFT)

    h = 36
    svg = [
        f"<svg class='overview' width='{WIDTH}' height='{h + 28}' xmlns='http://www.w3.org/2000/svg'>",
        f"<text x='4' y='{h - 16}'>{len(ops)} ops</text>",
        f"<text x='4' y='{h - 4}' fill='#777'>whole key</text>",
        f"<rect x='{x(w0):.1f}' y='0' width='{max(x(w1) - x(w0), 2):.1f}' height='{h}' "
        "fill='#fde2a8' stroke='#d9a441'><title>the window drawn below</title></rect>",
    ]
    bw = (right - LEFT) / bins
    for i, c in enumerate(counts):
        if c:
            bh = c / top * (h - 4)
            svg.append(
                f"<rect x='{LEFT + i * bw:.1f}' y='{h - bh:.1f}' width='{max(bw - 0.5, 0.5):.1f}' "
                f"height='{bh:.1f}' fill='#8aa6c8'/>"
            )
    svg.append(
        f"<line x1='{x(cx.cut):.1f}' x2='{x(cx.cut):.1f}' y1='0' y2='{h}' stroke='#c00' "
        "stroke-width='2'><title>the cut: the history up to here has no linearization</title></line>"
    )
    svg += _axis(t0, t0, t_end, x, h + 2, cx)
    svg.append("</svg>")
    return "".join(svg)


def _section(cx: Counterexample) -> str:
    order = {op.index: n for n, op in enumerate(cx.longest, 1)}
    t0 = min((op.call for op in cx.history or cx.ops), default=0)
    w0, w1 = cx.window()
    pad = max((w1 - w0) * 0.04, 1)
    lo, hi = w0 - pad, w1 + pad
    shown = [op for op in cx.ops if op.call <= hi and (op.ret is None or op.ret >= lo)]
    processes = sorted({str(op.process) for op in shown}, key=_natural)
    lane = {p: n for n, p in enumerate(processes)}
    right = WIDTH - 20

    def x(t: float) -> float:
        return LEFT + (min(max(t, lo), hi) - lo) / (hi - lo) * (right - LEFT)

    height = LANE_H * len(processes) + 40
    svg = [
        f"<svg class='window' width='{WIDTH}' height='{height}' xmlns='http://www.w3.org/2000/svg'>"
    ]
    for p, n in lane.items():
        y = n * LANE_H + 10
        svg.append(f"<text x='4' y='{y + 16}'>p{html.escape(p)}</text>")
        svg.append(f"<line x1='{LEFT}' x2='{right}' y1='{y + 21}' y2='{y + 21}' stroke='#eee'/>")
    for op in shown:
        svg.append(_bar(cx, op, order, lane[str(op.process)] * LANE_H + 10, x, lo, right))
    cut_x = x(cx.cut)
    svg.append(
        f"<line x1='{cut_x:.1f}' x2='{cut_x:.1f}' y1='4' y2='{height - 30}' stroke='#c00' "
        f"stroke-dasharray='5 3'/><text x='{cut_x - 3:.1f}' y='{height - 32}' text-anchor='end' "
        "fill='#c00'>cut</text>"
    )
    svg += _axis(t0, lo, hi, x, height - 28, cx)
    svg.append("</svg>")
    hidden = len(cx.ops) - len(shown)
    note = (
        f"<p class='note'>The window: {len(shown)} of the {len(cx.ops)} ops before the cut "
        f"({hidden} earlier ones only in the overview)."
        if hidden
        else f"<p class='note'>All {len(cx.ops)} ops before the cut."
    )
    return (
        f"<h2>key {html.escape(show(cx.key))}</h2><pre>{html.escape(cx.text())}</pre>"
        f"{_overview(cx, t0, w0, w1)}{note}</p>{''.join(svg)}"
    )


def _bar(
    cx: Counterexample,
    op: Op,
    order: dict[int, int],
    y: int,
    x: Callable[[float], float],
    lo: float,
    right: float,
) -> str:
    x0 = x(op.call)
    x1 = right if op.ret is None else x(op.ret)
    w = max(x1 - x0, 4)
    cls = "lin" if op.index in order else "open"
    if cx.blocked is not None and op.index == cx.blocked.index:
        cls = "blocked"
    if op.ret is None:
        cls += " running" if op.type == RUNNING else " info"
    label = cx.model.describe(op.f, op.value, op.output)
    if op.index in order:
        label = f"{order[op.index]}. {label}"
    if op.type == RUNNING:
        label += " (running at the cut)"
    if op.call < lo:
        label = "\u25c2 " + label  # began before the window
    detail = html.escape(cx.describe(op), quote=True)
    fit = max(0, int((w - 6) / 6.6))
    text = label if len(label) <= fit else label[: max(0, fit - 1)] + "\u2026"
    return (
        f"<g class='op {cls}' data-detail='{detail}'><title>{detail}</title>"
        f"<rect x='{x0:.1f}' y='{y}' width='{w:.1f}' height='{LANE_H - 6}' rx='3'/>"
        f"<text x='{x0 + 3:.1f}' y='{y + 14}'>{html.escape(text) if fit >= 2 else ''}</text></g>"
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
