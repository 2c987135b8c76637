"""The run report's time sections: the charts over time, and the table of
fault windows with availability and recovery. HTML fragments; every text
escaped; a chart with nothing to draw is a sentence instead."""

from __future__ import annotations

from collections.abc import Iterable

from distlab.report import run_charts
from distlab.report.fault_impact import DEFINITIONS, FaultImpact, measure
from distlab.report.run_digest import RunDigest
from distlab.report.svg import TimeScale, esc
from distlab.tui.state import FaultWindow

NODE_COLOURS = {
    "up": "#8bc48a",
    "starting": "#d4e8b0",
    "paused": "#f2c14e",
    "down": "#d5d8dc",
    "crashed": "#e57373",
    "leader (stripe)": "#0d47a1",
    "candidate (stripe)": "#ef6c00",
}
TEST_COLOURS = {"passed": "#a5d6a7", "failed": "#ef9a9a", "flaky": "#ffcc80", "skipped": "#e0e0e0"}


def over_time(d: RunDigest) -> str:
    """Tests and faults, throughput, latency and node states on one time axis."""
    out = ["<h2>Over time</h2>"]
    span = d.activity()
    if span is None:
        out.append(
            "<p class='none'>No workload samples, fault windows or node states were recorded "
            "in this run (no test started a cluster or a workload, as in a unit-only run): "
            "there is nothing to draw over time.</p>"
        )
        return "\n".join(out)
    pad = max((span[1] - span[0]) * 0.01, 0.5)
    scale = TimeScale(span[0] - pad, span[1] + pad)
    out.append(
        "<p class='note'>Time is since the run began; the charts cover "
        f"{span[0] - d.origin:.0f} s to {span[1] - d.origin:.0f} s, where something was "
        "recorded. Fault windows are the coloured bands; hover a bar, band or line for "
        "details.</p>"
    )
    kinds = sorted({w.fault for w in d.faults})
    if kinds:
        out.append(_swatches("faults:", ((k, run_charts.fault_colour(k)) for k in kinds)))
    charts = (
        ("Tests and faults", run_charts.what_ran, "no test ran and no fault was injected"),
        ("Throughput", run_charts.throughput, "no workload samples recorded"),
        ("Latency (p50, p99)", run_charts.latency, "no workload samples with a latency recorded"),
        ("Nodes", run_charts.nodes, "no node samples recorded (no cluster ran)"),
    )
    for title, draw, empty in charts:
        chart = draw(d, scale)
        body = chart if chart is not None else f"<p class='none'>{esc(empty)}.</p>"
        out.append(f"<figure><figcaption>{esc(title)}</figcaption>{_legend(title)}{body}</figure>")
    return "\n".join(out)


def fault_windows(d: RunDigest) -> str:
    """A row per fault window, under the test it happened in."""
    out = ["<h2>Fault windows: availability and recovery</h2>"]
    if not d.faults:
        out.append("<p class='none'>No fault was injected in this run.</p>")
        return "\n".join(out)
    head = "<th>fault</th><th>target</th><th>from</th><th>for</th>"
    if d.samples:
        out.append(
            "<dl class='defs'>"
            + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in DEFINITIONS)
            + "</dl>"
        )
        head += "<th>availability before → during</th><th>first ok</th><th>throughput back</th>"
        rows = [(m.test, _fault_row(m, d)) for m in measure(d)]
    else:
        out.append(
            "<p class='none'>No workload ran in this run (no workload samples), so there is "
            "no availability or recovery to measure; the fault windows:</p>"
        )
        rows = [(_test_name(d, w.start), f"<tr>{_window_cells(w, d)}</tr>") for w in d.faults]
    out.append(_grouped(head, rows))
    return "\n".join(out)


def _grouped(head: str, rows: list[tuple[str, str]]) -> str:
    """A table of (test, row) pairs, each run of one test's rows under its name."""
    columns = head.count("<th>")
    out = [f"<table><tr>{head}</tr>"]
    test = None
    for name, row in rows:
        if name != test:
            test = name
            where = f"<code>{esc(name)}</code>" if name else "<span class='none'>no test</span>"
            out.append(f"<tr class='group'><td colspan='{columns}'>in {where}</td></tr>")
        out.append(row)
    return "".join(out) + "</table>"


def _test_name(d: RunDigest, ts: float) -> str:
    span = d.test_at(ts)
    return span.nodeid if span is not None else ""


def _window_cells(w: FaultWindow, d: RunDigest) -> str:
    """The fault, its target, its start and its length, as table cells."""
    target = ", ".join(str(t) for t in w.target) if isinstance(w.target, list) else str(w.target)
    length = "not ended" if w.end is None else f"{w.end - w.start:.1f} s"
    return (
        f"<td title='{esc(run_charts.describe(w, d.origin))}'>"
        f"<span class='sw' style='background:{run_charts.fault_colour(w.fault)}'></span>"
        f"{esc(w.fault)} <small>{esc(w.id)}</small></td><td>{esc(target)}</td>"
        f"<td class='num'>{w.start - d.origin:.1f} s</td><td class='num'>{esc(length)}</td>"
    )


def _fault_row(m: FaultImpact, d: RunDigest) -> str:
    if not m.samples:
        during = "no workload sample in it"
    else:
        during = _pct(m.availability) if m.completions else "no op completed"
    return (
        f"<tr>{_window_cells(m.window, d)}"
        f"<td class='num'>{esc(_pct(m.availability_before))} → {esc(during)}</td>"
        f"<td class='num'>{_seconds(m.first_ok_s, m.why_no_first_ok)}</td>"
        f"<td class='num'>{_seconds(m.back_s, m.why_not_back)}</td></tr>"
    )


def _legend(title: str) -> str:
    if title == "Throughput":
        return _keys([("ok", "ok ops/s"), ("bad", "failed or unknown ops/s")])
    if title.startswith("Latency"):
        return _keys(
            [("p50", "p50"), ("p99", "p99")],
            "of ok and failed ops in each one-second sample, log scale",
        )
    if title == "Nodes":
        return _swatches("", NODE_COLOURS.items())
    if title.startswith("Tests"):
        return _swatches("tests:", TEST_COLOURS.items())
    return ""


def _keys(items: list[tuple[str, str]], note: str = "") -> str:
    spans = "".join(f"<span><span class='sw {c}'></span>{esc(label)}</span>" for c, label in items)
    tail = f"<span class='none'>{esc(note)}</span>" if note else ""
    return f"<div class='legend'>{spans}{tail}</div>"


def _swatches(lead: str, items: Iterable[tuple[str, str]]) -> str:
    spans = "".join(
        f"<span><span class='sw' style='background:{colour}'></span>{esc(label)}</span>"
        for label, colour in items
    )
    return f"<div class='legend'>{esc(lead)}{spans}</div>"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}" if v in (0, 1) else f"{v:.1%}"


def _seconds(v: float | None, why: str) -> str:
    if v is None:
        return f"<span class='none'>{esc(why or '-')}</span>"
    return f"≤ {v:.1f} s"
