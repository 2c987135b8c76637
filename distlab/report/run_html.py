"""The run report: ``report.html`` in every run directory, a page to look at.

Built from the run's ``events.jsonl`` alone (the same events the dashboard
folds), so ``distlab report RUN_DIR`` rebuilds the same page from a CI
artifact. Self-contained: inline CSS and SVG, no script, no network; hover
titles carry the details. Every text from the run is escaped. Empty data is
said in words, never drawn as an empty chart.

The parts: ``run_digest`` folds the events, ``fault_impact`` measures each
fault window, ``run_charts`` (on ``svg``) draws, ``run_timeline`` and
``run_verdicts`` make the sections, ``run_files`` links the run's files.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from distlab.report import run_timeline, run_verdicts
from distlab.report.files import atomic_write
from distlab.report.run_digest import RunDigest, digest_file
from distlab.report.run_files import RunFiles
from distlab.report.svg import esc
from distlab.tui.state import EXPECTED_INVALID

REPORT_NAME = "report.html"
EVENTS_NAME = "events.jsonl"
MAX_WARNINGS = 30
# What the header links to, when the run directory has it.
RUN_FILES = (
    ("events.jsonl", EVENTS_NAME),
    ("summary.json", "summary.json"),
    ("junit.xml", "junit.xml"),
    ("coverage", "coverage/html/index.html"),
    ("layer logs", "logs"),
)

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2329;background:#fafbfc}
main{max-width:1240px;margin:0 auto;padding:1.2em 1.5em 3em}
h1{font-size:1.45em;margin:.2em 0;overflow-wrap:anywhere} h2{font-size:1.15em;margin:2em 0 .5em;border-bottom:1px solid #dde1e5;padding-bottom:.2em}
h3{font-size:1em;margin:1.2em 0 .3em}
.verdict{display:inline-block;padding:.15em .6em;border-radius:4px;font-weight:600;color:#fff;background:#6c757d}
.verdict.pass{background:#2e7d32}.verdict.fail,.verdict.error{background:#c62828}.verdict.incomplete,.verdict.stopped{background:#b26a00}
.facts{display:flex;flex-wrap:wrap;gap:.3em 1.6em;margin:.6em 0;color:#444}.facts b{color:#1d2329}
.none{color:#6a737d;font-style:italic}
.note{color:#555;margin:.3em 0 .8em}
figure{margin:.4em 0 1.2em;background:#fff;border:1px solid #e1e4e8;border-radius:4px;padding:.3em .4em}
figcaption{font-weight:600;margin:.1em 0 .2em .2em}
svg{width:100%;height:auto;display:block}
svg text{font:11px ui-monospace,SFMono-Regular,Menlo,monospace;fill:#444}
svg .tick{fill:#6a737d} svg .lane-label{fill:#1d2329} svg .on-bar{fill:#fff} svg .none{fill:#6a737d}
svg .axis{stroke:#8a939c} svg .grid{stroke:#eceef0}
svg .band{fill-opacity:.13}
svg .ok-area{fill:#2e7d32;fill-opacity:.18} svg .ok-line{fill:none;stroke:#2e7d32;stroke-width:1.4}
svg .bad-line{fill:none;stroke:#c62828;stroke-width:1.2}
svg .p50-line{fill:none;stroke:#1565c0;stroke-width:1.4} svg .p99-line{fill:none;stroke:#8e24aa;stroke-width:1.2;stroke-dasharray:4 2}
svg .dot.ok-line{fill:#2e7d32} svg .dot.bad-line{fill:#c62828} svg .dot.p50-line{fill:#1565c0} svg .dot.p99-line{fill:#8e24aa}
.node.up{fill:#8bc48a} .node.starting{fill:#d4e8b0} .node.paused{fill:#f2c14e} .node.down{fill:#d5d8dc} .node.crashed{fill:#e57373} .node.other{fill:#b0bec5}
.role.leader{fill:#0d47a1} .role.candidate{fill:#ef6c00}
.test.passed,.test.xfailed{fill:#a5d6a7} .test.failed,.test.error{fill:#ef9a9a} .test.flaky,.test.xpassed{fill:#ffcc80}
.test.skipped{fill:#e0e0e0} .test.running,.test.other{fill:#cfd8dc} .test.edged{stroke:#fff;stroke-width:1}
tr.group td{background:#f8f9fa;color:#444;font-size:.92em}
.legend{display:flex;flex-wrap:wrap;gap:.2em 1em;font-size:.9em;color:#444;margin:.2em 0 .4em}
.sw{display:inline-block;width:.9em;height:.9em;border-radius:2px;vertical-align:-.1em;margin-right:.3em}
.sw.p50{background:#1565c0}.sw.p99{background:repeating-linear-gradient(90deg,#8e24aa 0 4px,transparent 4px 6px)}
.sw.ok{background:#2e7d32}.sw.bad{background:#c62828}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.93em}
th,td{border:1px solid #e1e4e8;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f5f7;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td code,li code{overflow-wrap:anywhere}
.st{font-weight:600;white-space:nowrap}
.st.passed,.st.valid,.st.pass{color:#2e7d32} .st.failed,.st.error,.st.invalid,.st.fail,.st.crashed,.st.timeout{color:#c62828}
.st.flaky,.st.not-evaluated,.st.unknown,.st.stopped,.st.incomplete,.st.expected{color:#b26a00}
.st.skipped,.st.not-selected,.st.no-baseline,.st.not-run,.st.empty{color:#6a737d}
details{margin:.3em 0} summary{cursor:pointer}
pre{background:#f6f8fa;border:1px solid #e1e4e8;padding:.6em;overflow-x:auto;font-size:.85em;white-space:pre-wrap;overflow-wrap:anywhere}
dl.defs{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;color:#444;font-size:.92em}
dl.defs dt{font-weight:600} dl.defs dd{margin:0}
.glance{margin:.4em 0;color:#333}
"""


def write(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    shared: bool = False,
    digest: RunDigest | None = None,
) -> Path:
    """Build the report of ``run_dir`` and write it (atomically) to ``out`` or
    ``<run_dir>/report.html``; returns the path. ``digest``: its events, when
    already read. A file that cannot be read or written raises ``OSError``
    (``ReportWriteError``, one line, for the write)."""
    run = Path(run_dir)
    target = Path(out) if out is not None else run / REPORT_NAME
    if digest is None:
        digest = digest_file(run / EVENTS_NAME)
    page = render(digest, run, target.parent)
    atomic_write(target, page.encode("utf-8"), what="run report", shared=shared)
    return target


def render(d: RunDigest, run_dir: Path | None = None, page_dir: Path | None = None) -> str:
    """The page for a digest. ``run_dir`` is where the files it links are (timelines,
    logs); ``page_dir`` where the page will be, which its links are relative to."""
    files = RunFiles(run_dir, page_dir)
    name = run_dir.name if run_dir is not None else (Path(d.state.run_dir).name or "run")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>distlab run {esc(name)}: {esc(_verdict(d))}</title><style>{_STYLE}</style>",
        "</head><body><main>",
        _header(d, name, files),
        run_timeline.over_time(d),
        run_timeline.fault_windows(d),
        run_verdicts.checks(d, files),
        run_verdicts.gates(d),
        run_verdicts.layers(d),
        _notes(d),
        "</main></body></html>",
    ]
    return "\n".join(parts)


def _header(d: RunDigest, name: str, files: RunFiles) -> str:
    s = d.state
    verdict = _verdict(d)
    facts = [("seed", "-" if s.seed is None else str(s.seed))]
    if s.started is not None:
        facts.append(("started", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(s.started))))
    elapsed = s.elapsed()
    if elapsed is not None:
        facts.append(("took", f"{elapsed:.1f} s"))
    if s.exit_code is not None:
        facts.append(("exit code", str(s.exit_code)))
    facts.append(("layers", ", ".join(layer.name for layer in s.ordered_layers()) or "none"))
    facts.append(("events", f"{d.events:,}"))
    out = [
        f"<h1>distlab run {esc(name)} <span class='verdict {run_verdicts.status_class(verdict)}'>"
        f"{esc(verdict.upper())}</span></h1>",
        "<div class='facts'>"
        + "".join(f"<span>{esc(k)}: <b>{esc(v)}</b></span>" for k, v in facts)
        + "</div>",
        f"<p class='glance'>{esc(_glance(d))}</p>",
    ]
    if s.reason:
        out.append(f"<p class='note'>{esc(s.reason)}</p>")
    present = [(label, rel) for label, rel in RUN_FILES if files.exists(rel)]
    if present:
        links = ", ".join(f"<a href='{files.href(rel)}'>{esc(label)}</a>" for label, rel in present)
        out.append(f"<p class='note'>In this run directory: {links}</p>")
    return "\n".join(out)


def _glance(d: RunDigest) -> str:
    """One line of counts: tests, gates, checker verdicts, faults."""
    c = d.state.counts()
    tests = ", ".join(f"{c[k]} {k}" for k in ("passed", "failed", "flaky", "error") if c[k])
    states = [g.status for g in d.state.gates.values()]
    gates = ", ".join(
        f"{states.count(k)} {k}" for k in ("passed", "failed", "not-evaluated") if k in states
    )
    verdicts = [run_verdicts.shown_verdict(c, d) for c in d.checks]
    kinds = ("valid", "invalid", EXPECTED_INVALID, "unknown")
    checks = ", ".join(f"{verdicts.count(k)} {k}" for k in kinds if k in verdicts)
    return " · ".join(
        [
            f"tests: {tests or 'none ran'}",
            f"gates: {gates or 'none judged'}",
            f"checker verdicts: {checks or 'none'}",
            f"fault windows: {len(d.faults)}",
        ]
    )


def _notes(d: RunDigest) -> str:
    out = []
    if d.skipped:
        out.append(
            f"<p class='note'>{d.skipped} line(s) of events.jsonl could not be read as events "
            f"and are left out; the first: {esc(d.first_problem)}</p>"
        )
    if d.warnings:
        items = "".join(
            f"<li>{w.ts - d.origin:.1f} s [{esc(w.source or w.level)}] {esc(w.message)}</li>"
            for w in d.warnings[:MAX_WARNINGS]
        )
        more = len(d.warnings) - MAX_WARNINGS
        tail = f"<p class='note'>... and {more} more in events.jsonl.</p>" if more > 0 else ""
        out.append(
            f"<details><summary>{len(d.warnings)} warning(s) logged</summary>"
            f"<ul>{items}</ul>{tail}</details>"
        )
    return "<h2>Notes</h2>" + "\n".join(out) if out else ""


def _verdict(d: RunDigest) -> str:
    return d.state.verdict or ("unfinished" if d.state.started is not None else "no run")
