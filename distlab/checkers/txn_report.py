"""Transactional anomalies as a self-contained HTML page.

One section per anomaly: its explanation, a table of the transactions
involved (process, outcome, micro-ops, lines), and for a cycle a drawing --
the transactions on a circle, one arrow per dependency, labelled with its
kind (ww, wr, rw, rt). No external scripts or styles.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from distlab.checkers.transactions import Anomaly, TxnResult, describe

_STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.3em;overflow-wrap:anywhere} h2{font-size:1.1em;margin-top:2em}
pre{background:#f6f6f6;padding:.8em;white-space:pre-wrap}
.allowed h2{color:#777} .forbidden h2{color:#b00}
svg text{font:12px monospace}
.node circle{fill:#e8f0fe;stroke:#4a6fa5} .ww{stroke:#555} .wr{stroke:#2a7} .rw{stroke:#c33}
.rt{stroke:#88a;stroke-dasharray:4 3}
"""

_COLOURS = {"ww": "#555", "wr": "#2a7", "rw": "#c33", "rt": "#88a"}
LIMIT = 20  # anomalies of one kind drawn; the rest are counted


def render(result: TxnResult, source: str) -> str:
    """The HTML page for a checked transactional history."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(source)}: {result.verdict}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(source)}: {html.escape(result.summary())}</h1>",
        "<p>Edges: <b style='color:#555'>ww</b> the second wrote the next version; "
        "<b style='color:#2a7'>wr</b> the second read the first's write; "
        "<b style='color:#c33'>rw</b> the second overwrote what the first read; "
        "<b style='color:#88a'>rt</b> the first completed before the second began.</p>",
    ]
    per_kind: dict[str, int] = {}
    for a in sorted(result.anomalies, key=lambda a: (not a.forbidden, a.kind, len(a.edges))):
        per_kind[a.kind] = per_kind.get(a.kind, 0) + 1
        if per_kind[a.kind] <= LIMIT:
            parts.append(_section(a))
    for kind, n in per_kind.items():
        if n > LIMIT:
            parts.append(f"<p>... and {n - LIMIT} more {html.escape(kind)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _section(a: Anomaly) -> str:
    cls = "forbidden" if a.forbidden else "allowed"
    rows = "".join(f"<li><code>{html.escape(describe(t))}</code></li>" for t in a.txns)
    out = [
        f"<section class='{cls}'><h2>{html.escape(a.kind)}</h2>",
        f"<pre>{html.escape(a.text())}</pre><ul>{rows}</ul>",
    ]
    if a.edges:
        out.append(_cycle(a))
    out.append("</section>")
    return "".join(out)


def _cycle(a: Anomaly) -> str:
    n = len(a.edges)
    size = 200 + 40 * n
    cx = cy = size / 2
    radius = size / 2 - 50
    pos = {}
    for i, e in enumerate(a.edges):
        angle = -math.pi / 2 + 2 * math.pi * i / n
        pos[e.src.id] = (cx + radius * math.cos(angle), cy + radius * math.sin(angle))
    svg = [
        f"<svg width='{size:.0f}' height='{size:.0f}' xmlns='http://www.w3.org/2000/svg'>",
        "<defs>",
        *(
            f"<marker id='arrow-{k}' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='8' "
            f"markerHeight='8' orient='auto'><path d='M0,0 L10,5 L0,10 z' fill='{c}'/></marker>"
            for k, c in _COLOURS.items()
        ),
        "</defs>",
    ]
    for e in a.edges:
        (x1, y1), (x2, y2) = pos[e.src.id], pos[e.dst.id]
        dx, dy = x2 - x1, y2 - y1
        length = math.hypot(dx, dy) or 1
        # start and end on the circles' rims, bowed so two opposite edges do not overlap
        sx, sy = x1 + dx / length * 22, y1 + dy / length * 22
        ex, ey = x2 - dx / length * 22, y2 - dy / length * 22
        mx, my = (sx + ex) / 2 - dy / length * 25, (sy + ey) / 2 + dx / length * 25
        svg.append(
            f"<path class='{e.kind}' d='M{sx:.1f},{sy:.1f} Q{mx:.1f},{my:.1f} {ex:.1f},{ey:.1f}' "
            f"fill='none' stroke-width='2' marker-end='url(#arrow-{e.kind})'>"
            f"<title>{html.escape(e.why, quote=True)}</title></path>"
            f"<text x='{mx:.1f}' y='{my:.1f}' fill='{_COLOURS[e.kind]}'>{e.kind}</text>"
        )
    for e in a.edges:
        x, y = pos[e.src.id]
        svg.append(
            f"<g class='node'><circle cx='{x:.1f}' cy='{y:.1f}' r='20'/>"
            f"<text x='{x:.1f}' y='{y + 4:.1f}' text-anchor='middle'>{e.src.name()}</text>"
            f"<title>{html.escape(describe(e.src), quote=True)}</title></g>"
        )
    svg.append("</svg>")
    return "".join(svg)


def write(result: TxnResult, source: str, path: Path) -> Path:
    """Write the page to ``path`` and return it."""
    path.write_text(render(result, source), encoding="utf-8")
    return path


def default_path(history_path: Path, out_dir: Path | None = None) -> Path:
    """``<name>.anomalies.html`` beside the history (or in ``out_dir``)."""
    name = history_path.name.removesuffix(".jsonl") + ".anomalies.html"
    return (out_dir or history_path.parent) / name
