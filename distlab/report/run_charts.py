"""The run report's time charts: what ran and which faults, throughput, latency,
and the nodes' states, all on one time axis with the fault windows as bands.

Each function takes the digest and the shared ``TimeScale`` and returns one
``<svg>``, or None when it has nothing to draw (the page then says so in
words instead of drawing an empty frame).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from distlab.events import WorkloadSample
from distlab.report import svg
from distlab.report.fault_impact import ok_per_s
from distlab.report.run_digest import RunDigest, TestSpan
from distlab.report.svg import LEFT, TimeScale
from distlab.tui.state import FaultWindow

# A fault kind's colour, in the charts and beside its row in the fault table.
FAULT_COLOURS = {
    "partition": "#d64541",
    "heal": "#9e9e9e",
    "latency": "#e69a28",
    "loss": "#c46210",
    "bandwidth": "#b8860b",
    "kill": "#7d3c98",
    "restart": "#4a235a",
    "pause": "#2e86c1",
    "resume": "#85c1e9",
    "memory": "#17a589",
    "memory_limit": "#117a65",
    "cpu": "#1e8449",
    "fds": "#0e6655",
    "disk_full": "#145a32",
    "db_kill": "#6e2c00",
    "db_cut": "#a04000",
    "db_slow": "#b9770e",
    "db_drop": "#873600",
}
OTHER_FAULT = "#7f8c8d"
GAP_S = 2.5  # samples further apart than this are not joined by a line
FAULT_ROWS = 6  # at most this many rows of overlapping faults; more share the last
LANE_H = 18
AXIS_H = 26


def fault_colour(kind: str) -> str:
    return FAULT_COLOURS.get(kind, OTHER_FAULT)


def describe(w: FaultWindow, origin: float) -> str:
    """A fault window in words, for hover titles."""
    target = ", ".join(str(t) for t in w.target) if isinstance(w.target, list) else str(w.target)
    end = "not ended" if w.end is None else f"to {w.end - origin:.1f} s ({w.end - w.start:.1f} s)"
    params = ", ".join(f"{k}={v}" for k, v in w.params.items() if v not in (None, "", [], {}))
    return f"{w.id}: {w.fault} on {target or '-'} from {w.start - origin:.1f} s {end}" + (
        f"; {params}" if params else ""
    )


def bands(d: RunDigest, scale: TimeScale, top: float, bottom: float) -> str:
    """Every fault window as a translucent band from ``top`` to ``bottom``."""
    out = []
    for w in d.faults:
        x0 = scale.x(w.start)
        x1 = scale.x(w.end if w.end is not None else d.end)
        out.append(
            svg.rect(
                x0,
                top,
                x1 - x0,
                bottom - top,
                cls="band",
                fill=fault_colour(w.fault),
                title=describe(w, d.origin),
            )
        )
    return "".join(out)


def what_ran(d: RunDigest, scale: TimeScale) -> str | None:
    """A lane of the tests that ran, and below it the faults, packed into rows."""
    tests = [t for t in d.tests if _overlaps(t.start, t.end or d.end, scale)]
    if not tests and not d.faults:
        return None
    rows = _pack(d.faults, scale, d.end)
    height = 8 + LANE_H + 6 + max(len(rows), 1) * (LANE_H + 4) + AXIS_H
    out = [svg.text(LEFT - 6, 8 + 13, "tests", anchor="end", cls="lane-label")]
    for t in tests:
        out.append(_test_bar(t, scale, d, 8))
    y = 8 + LANE_H + 6
    if not d.faults:
        out.append(svg.text(LEFT, y + 13, "no fault was injected in this span", cls="none"))
    for n, row in enumerate(rows):
        ry = y + n * (LANE_H + 4)
        out.append(svg.text(LEFT - 6, ry + 13, "faults" if n == 0 else "", anchor="end"))
        for w in row:
            out.append(_fault_bar(w, scale, d, ry))
    out.append(svg.time_axis(scale, d.origin, height - AXIS_H + 4))
    return svg.svg(svg.WIDTH, height, out, "tests and faults over time")


def throughput(d: RunDigest, scale: TimeScale) -> str | None:
    """ok ops per second (area) and failed-or-unknown ops per second (line)."""
    if not d.samples:
        return None
    series = _series(d.samples)
    hi = svg.nice_ceiling(max(max(s.ops_per_s for s in d.samples), 1.0))
    top, bottom = 10.0, 170.0
    y = svg.LinearScale(0.0, hi, top, bottom)
    out = [bands(d, scale, top, bottom), svg.value_axis(svg.linear_ticks(hi), y, "")]
    out.append(svg.text(8, top + 10, "ops/s", cls="lane-label"))
    for run in series:
        ok = [(scale.x(s.ts), y.y(ok_per_s(s))) for s in run]
        bad = [(scale.x(s.ts), y.y(s.ops_per_s - ok_per_s(s))) for s in run]
        out.append(svg.area(ok, bottom, "ok-area"))
        out.append(svg.polyline(ok, "ok-line", f"ok ops/s ({run[0].workload or 'workload'})"))
        if any(s.fail or s.info for s in run):
            out.append(svg.polyline(bad, "bad-line", "failed or unknown ops/s"))
    out.append(svg.time_axis(scale, d.origin, bottom + 4))
    return svg.svg(svg.WIDTH, bottom + AXIS_H + 4, out, "throughput over time")


def latency(d: RunDigest, scale: TimeScale) -> str | None:
    """p50 and p99 latency of ok and failed ops, on a log axis."""
    values = [v for s in d.samples for v in (s.p50_ms, s.p99_ms) if v is not None and v > 0]
    if not values:
        return None
    lo = 10.0 ** math.floor(math.log10(min(values)))
    hi = 10.0 ** math.ceil(math.log10(max(values)))
    if hi <= lo:
        hi = lo * 10
    top, bottom = 10.0, 170.0
    y = svg.LogScale(lo, hi, top, bottom)
    out = [bands(d, scale, top, bottom), svg.value_axis(svg.log_ticks(lo, hi), y, " ms")]
    out.append(svg.text(8, top + 10, "latency", cls="lane-label"))
    for run in _series(d.samples):
        for pct, cls in (("p99_ms", "p99-line"), ("p50_ms", "p50-line")):
            pts = [
                (scale.x(s.ts), y.y(v)) for s in run if (v := getattr(s, pct)) is not None and v > 0
            ]
            out.append(svg.polyline(pts, cls, pct.removesuffix("_ms")))
    out.append(svg.time_axis(scale, d.origin, bottom + 4))
    return svg.svg(svg.WIDTH, bottom + AXIS_H + 4, out, "latency over time")


def nodes(d: RunDigest, scale: TimeScale) -> str | None:
    """One lane per node: its state as colour, a leader or candidate as a stripe on top."""
    if not d.lanes:
        return None
    names = sorted(d.lanes, key=_natural)
    height = 6 + len(names) * (LANE_H + 4) + AXIS_H
    out = [bands(d, scale, 2, height - AXIS_H)]
    for n, node in enumerate(names):
        y = 6 + n * (LANE_H + 4)
        out.append(svg.text(LEFT - 6, y + 13, node, anchor="end", cls="lane-label"))
        for span in d.lanes[node]:
            end = span.end if span.end is not None else d.end
            x0, x1 = scale.x(span.start), scale.x(end)
            title = f"{node}: {span.state}" + (f", {span.role}" if span.role else "")
            title += f" from {span.start - d.origin:.1f} s to {end - d.origin:.1f} s"
            out.append(
                svg.rect(x0, y, x1 - x0, LANE_H, cls=f"node {_cls(span.state)}", title=title)
            )
            if span.role in ("leader", "candidate"):
                out.append(svg.rect(x0, y, x1 - x0, 5, cls=f"role {span.role}"))
    out.append(svg.time_axis(scale, d.origin, height - AXIS_H + 2))
    return svg.svg(svg.WIDTH, height, out, "node states over time")


def _overlaps(start: float, end: float, scale: TimeScale) -> bool:
    return end >= scale.t0 and start <= scale.t1


def _test_bar(t: TestSpan, scale: TimeScale, d: RunDigest, y: float) -> str:
    end = t.end if t.end is not None else d.end
    x0, x1 = scale.x(t.start), scale.x(end)
    title = f"{t.nodeid}: {t.outcome} ({end - t.start:.1f} s, from {t.start - d.origin:.1f} s)"
    # A white edge tells neighbours apart, where a bar is wide enough to keep its colour.
    edge = " edged" if x1 - x0 >= 4 else ""
    return svg.rect(x0, y, x1 - x0, LANE_H, cls=f"test {_cls(t.outcome)}{edge}", title=title)


def _fault_bar(w: FaultWindow, scale: TimeScale, d: RunDigest, y: float) -> str:
    x0 = scale.x(w.start)
    x1 = scale.x(w.end if w.end is not None else d.end)
    bar = svg.rect(x0, y, x1 - x0, LANE_H, fill=fault_colour(w.fault), title=describe(w, d.origin))
    target = ",".join(str(t) for t in w.target) if isinstance(w.target, list) else str(w.target)
    label = f"{w.fault} {target}".strip()
    if len(label) * 6.6 + 6 > x1 - x0:
        label = w.fault if len(w.fault) * 6.6 + 6 <= x1 - x0 else ""
    return bar + (svg.text(x0 + 3, y + 13, label, cls="on-bar") if label else "")


def _pack(windows: Sequence[FaultWindow], scale: TimeScale, end: float) -> list[list[FaultWindow]]:
    """Rows of fault windows that do not overlap on screen (first fit, by start)."""
    rows: list[list[FaultWindow]] = []
    ends: list[float] = []
    for w in sorted(windows, key=lambda w: w.start):
        x0 = scale.x(w.start)
        x1 = max(scale.x(w.end if w.end is not None else end), x0 + 1)
        row = next((i for i, e in enumerate(ends) if e + 2 <= x0), None)
        if row is None:
            row = len(rows) if len(rows) < FAULT_ROWS else FAULT_ROWS - 1
            if row == len(rows):
                rows.append([])
                ends.append(x1)
        rows[row].append(w)
        ends[row] = max(ends[row], x1)
    return rows


def _series(samples: Sequence[WorkloadSample]) -> list[list[WorkloadSample]]:
    """Samples per workload, split where a gap says a different run of it began."""
    by_name: dict[str, list[WorkloadSample]] = {}
    for s in sorted(samples, key=lambda s: s.ts):
        by_name.setdefault(s.workload, []).append(s)
    runs: list[list[WorkloadSample]] = []
    for seq in by_name.values():
        current = [seq[0]]
        for s in seq[1:]:
            if s.ts - current[-1].ts > GAP_S:
                runs.append(current)
                current = []
            current.append(s)
        runs.append(current)
    return runs


def _cls(word: str) -> str:
    """A CSS class from an outcome or state word (anything else becomes ``other``)."""
    return word if re.fullmatch(r"[a-z][a-z-]*", word or "") else "other"


def _natural(name: str) -> tuple[str, int, str]:
    m = re.fullmatch(r"(.*?)(\d+)", name)
    return (m.group(1), int(m.group(2)), name) if m else (name, -1, name)
