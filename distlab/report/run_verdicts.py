"""The run report's verdict sections: checker verdicts (with each
counterexample's timeline), gates with their observed values, and each
layer's tests and outcomes. HTML fragments; every text escaped."""

from __future__ import annotations

from pathlib import Path

from distlab.events import CheckVerdict
from distlab.report.run_digest import RunDigest
from distlab.report.run_files import RunFiles
from distlab.report.svg import esc
from distlab.report.text import truncate
from distlab.rundir import test_dir_name
from distlab.tui.state import EXPECTED_INVALID, Gate, LayerInfo

MAX_TRACEBACK = 20_000  # per failing test; the run directory keeps the whole text
# Gates in these states are listed folded: they judged nothing in this run.
FOLDED_GATES = ("not-selected",)


def status_class(word: str) -> str:
    """The CSS class of an outcome, state or verdict word."""
    return esc("expected" if word == EXPECTED_INVALID else word.replace(" ", "-"))


def checks(d: RunDigest, files: RunFiles) -> str:
    """Every ``check.verdict``, under the test that ran it, with its timeline."""
    out = ["<h2>Checker verdicts</h2>"]
    timelines = files.timelines()
    linked: set[str] = set()
    if not d.checks:
        out.append("<p class='none'>No checker judged a history in this run.</p>")
    else:
        rows = [
            "<table class='checks'><tr><th>verdict</th><th>checker</th><th>detail</th>"
            "<th>counterexample</th></tr>"
        ]
        group = None
        for c in d.checks:
            who = _test_of(c, d)
            if who != group:
                group = who
                rows.append(f"<tr class='group'><td colspan='4'>in {who}</td></tr>")
            mine = _timelines_of(c, d, files, timelines)
            linked.update(mine)
            link = " ".join(f"<a href='{files.href(t)}'>{esc(_short(t))}</a>" for t in mine)
            if c.timeline and not mine:
                link = f"<span class='none'>{esc(c.timeline)} (not in this run directory)</span>"
            verdict = shown_verdict(c, d)
            rows.append(
                f"<tr><td class='st {status_class(verdict)}'>{esc(verdict)}</td>"
                f"<td>{esc(c.checker)}</td><td>{esc(c.detail)}</td><td>{link or '-'}</td></tr>"
            )
        rows.append("</table>")
        out.append("".join(rows))
    others = sorted(t for found in timelines.values() for t in found if t not in linked)
    if others:
        out.append("<p class='note'>Other counterexample timelines in this run directory:</p><ul>")
        out += [f"<li><a href='{files.href(t)}'>{esc(t)}</a></li>" for t in others]
        out.append("</ul>")
    return "\n".join(out)


def gates(d: RunDigest) -> str:
    """Each gate: its state, the observed value, the threshold, the explanation."""
    out = ["<h2>Gates</h2>"]
    every = list(d.state.gates.values())
    if not every:
        out.append("<p class='none'>No gate was evaluated in this run.</p>")
        return "\n".join(out)
    head = (
        "<table><tr><th>state</th><th>gate</th><th>observed</th><th>threshold</th>"
        "<th>explanation</th></tr>"
    )
    shown = [g for g in every if g.status not in FOLDED_GATES]
    folded = [g for g in every if g.status in FOLDED_GATES]
    if shown:
        out.append(head + "".join(_gate_row(g) for g in shown) + "</table>")
    if folded:
        out.append(
            f"<details><summary>{len(folded)} gate(s) not selected: their layers were left out "
            f"of this run</summary>{head}{''.join(_gate_row(g) for g in folded)}</table></details>"
        )
    return "\n".join(out)


def layers(d: RunDigest) -> str:
    """Each layer's outcome and counts; its failing tests open, all its tests folded."""
    out = ["<h2>Layers and tests</h2>"]
    ordered = d.state.ordered_layers()
    if not ordered:
        out.append("<p class='none'>No layer ran in this run.</p>")
    out += [_layer(layer) for layer in ordered]
    return "\n".join(out)


def _test_of(c: CheckVerdict, d: RunDigest) -> str:
    if c.nodeid:
        return f"<code>{esc(c.nodeid)}</code>"
    test = d.test_at(c.ts)  # an older run's verdict names no test: the one running then
    if test is None:
        return "<span class='none'>no test (the lab, or outside pytest)</span>"
    return f"<code>{esc(test.nodeid)}</code> <small class='none'>(running then)</small>"


def shown_verdict(c: CheckVerdict, d: RunDigest) -> str:
    """A checker's verdict as the dashboard shows it (an INVALID its passing test
    expected reads ``invalid (expected)``)."""
    test = d.state.tests.get(c.nodeid) if c.nodeid else None
    if c.verdict == "invalid" and test is not None and test.outcome in ("passed", "xfailed"):
        return EXPECTED_INVALID  # the test passed: it asserts that the checker finds the bug
    return c.verdict


def _timelines_of(
    c: CheckVerdict, d: RunDigest, files: RunFiles, timelines: dict[str, list[str]]
) -> list[str]:
    named = files.locate(c.timeline, d.state.run_dir)
    if named is not None:
        return [named]
    if c.timeline or c.verdict != "invalid" or not c.nodeid:
        return []  # named but gone (never guess another), or nothing to show
    # An older run's event names no timeline: the one in the test's own directory.
    return timelines.get(test_dir_name(c.nodeid), [])


def _gate_row(g: Gate) -> str:
    state = g.status or "pending"
    return (
        f"<tr><td class='st {status_class(state)}'>{esc(state)}</td>"
        f"<td><code>{esc(g.name)}</code></td><td class='num'>{esc(_observed(g.observed))}</td>"
        f"<td>{esc(g.threshold)}</td><td>{esc(g.explanation)}</td></tr>"
    )


def _layer(layer: LayerInfo) -> str:
    c = layer.counts()
    kinds = ("passed", "failed", "flaky", "error", "skipped")
    tally = ", ".join(f"{c[k]} {k}" for k in kinds if c[k])
    took = ""
    if layer.started is not None and layer.ended is not None:
        took = f" in {layer.ended - layer.started:.1f} s"
    status = "not-run" if layer.status == "idle" else layer.status  # named, never started
    out = [
        f"<h3>{esc(layer.name)} <span class='st {status_class(status)}'>{esc(status)}</span>"
        f" <small>{esc(tally or 'no tests')}{esc(took)}</small></h3>"
    ]
    if layer.reason:
        out.append(f"<p class='note'>{esc(layer.reason)}</p>")
    tests = list(layer.tests.values())
    for t in tests:
        if t.failing:
            out.append(
                f"<details open><summary><span class='st {status_class(t.outcome)}'>"
                f"{esc(t.outcome)}</span> <code>{esc(t.nodeid)}</code> {esc(t.message)}</summary>"
                f"<pre>{esc(truncate(t.longrepr or t.message, MAX_TRACEBACK))}</pre></details>"
            )
    if tests:
        rows = "".join(
            f"<tr><td class='st {status_class(t.outcome)}'>{esc(t.outcome)}</td>"
            f"<td><code>{esc(t.nodeid)}</code></td><td class='num'>{_duration(t.duration_s)}</td>"
            f"<td>{esc(t.message)}</td></tr>"
            for t in tests
        )
        out.append(
            f"<details><summary>all {len(tests)} tests of {esc(layer.name)}</summary>"
            "<table><tr><th>outcome</th><th>test</th><th>took</th><th>message</th></tr>"
            f"{rows}</table></details>"
        )
    return "\n".join(out)


def _short(rel: str) -> str:
    """A timeline's link text: its directory and name (``trial03/history.timeline.html``)."""
    return "/".join(Path(rel).parts[-2:])


def _duration(v: float | None) -> str:
    return "" if v is None else f"{v:.2f} s"


def _observed(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
