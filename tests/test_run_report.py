"""report.html: built from a run's events (a real recorded run, events made
through the real encoders, and a real `distlab --ci`), self-contained,
escaped, honest about what it has no data for."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from throwaway_suites import DATA, PYTEST_ARGS, sigterm_once_hanging

from distlab import events
from distlab.cli.main import main
from distlab.report import run_html
from distlab.report.fault_impact import measure
from distlab.report.run_digest import digest_file
from distlab.report.svg import LEFT, RIGHT
from distlab.rundir import test_dir_name

V1_RUN = DATA / "runs" / "v1-unit-chaos"
DOCS = Path(__file__).resolve().parents[1] / "docs"
SECTIONS = ("Over time", "Fault windows", "Checker verdicts", "Gates", "Layers and tests")
T0 = 1_800_000_000.0  # the generated run's start
NODEID = "suites/chaos/test_x.py::test_partition"


def write_events(run_dir: Path, made: list[events.Event]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "events.jsonl", "wb") as f:
        for event in made:
            f.write(events.encode(event))
    return run_dir


def sample(ts: float, ok: int, info: int = 0, p50: float = 2.0) -> events.WorkloadSample:
    return events.WorkloadSample(
        ts=ts, ops_per_s=ok + info, ok=ok, info=info, p50_ms=p50, p99_ms=p50 * 4, workload="w"
    )


def chaos_run(run_dir: Path, *, nodeid: str = NODEID, timeline: str = "") -> list[events.Event]:
    """One test: 60 s of workload at 100 ok/s, a partition from 20 s to 30 s during
    which nothing succeeds, 10 ok/s in the second after the heal, 95 ok/s from then on."""
    made: list[events.Event] = [
        events.RunStart(ts=T0, seed=5, layers=("chaos",), run_dir=str(run_dir)),
        events.LayerStart(ts=T0, layer="chaos"),
        events.TestStart(ts=T0 + 0.5, layer="chaos", nodeid=nodeid),
    ]
    for n in ("n1", "n2", "n3"):
        made.append(events.NodeStateChanged(ts=T0 + 0.6, node=n, state="up", cluster="c1"))
    made.append(events.NodeRole(ts=T0 + 0.8, node="n1", role="leader", term=1, leader="n1"))
    for s in range(1, 61):
        ts = T0 + s
        if s == 20:
            made.append(
                events.FaultStart(
                    ts=ts - 0.5, id="s/f1", fault="partition", target=("n1",), params={}
                )
            )
        if s == 30:
            made.append(events.FaultEnd(ts=ts - 0.5, id="s/f1", fault="partition"))
        if 20 <= s <= 29:
            made.append(sample(ts, ok=0, info=5, p50=900.0))
        elif s == 30:
            made.append(sample(ts, ok=10))
        else:
            made.append(sample(ts, ok=100 if s < 20 else 95))
        for n in ("n1", "n2", "n3"):
            made.append(events.NodeSample(ts=ts, node=n, cpu_percent=5.0, state="up"))
    made += [
        events.CheckVerdict(
            ts=T0 + 61,
            layer="chaos",
            checker="linearizability",
            verdict="invalid",
            detail="not linearizable: 'x'",
            nodeid=nodeid,
            timeline=timeline,
        ),
        events.TestEnd(ts=T0 + 62, layer="chaos", nodeid=nodeid, outcome="failed", message="boom"),
        events.LayerEnd(ts=T0 + 62, layer="chaos", outcome="failed"),
        events.GateResult(
            ts=T0 + 63,
            name="chaos.pass_rate == 1",
            metric="chaos.pass_rate",
            observed=0.0,
            threshold="== 1",
            passed=False,
            explanation="chaos.pass_rate = 0, == 1: fail",
            status="failed",
        ),
        events.RunEnd(ts=T0 + 64, verdict="fail", exit_code=1, reason="layer chaos failed"),
    ]
    write_events(run_dir, made)
    return made


def bands(page: str) -> list[tuple[float, float, str]]:
    """(x, width, title) of every fault band in the page."""
    found = re.findall(
        r"<rect x='([\d.]+)' y='[\d.]+' width='([\d.]+)' height='[\d.]+' class='band'[^>]*>"
        r"<title>([^<]*)</title>",
        page,
    )
    return [(float(x), float(w), title) for x, w, title in found]


def seconds(label: str) -> int:
    """An axis label (``45 s``, ``1:05``) in seconds."""
    if label.endswith(" s"):
        return int(label[:-2])
    minutes, secs = label.split(":")
    return int(minutes) * 60 + int(secs)


def assert_self_contained(page: str) -> None:
    assert "<script" not in page.lower()
    assert not re.search(r"\b(src|xlink:href)=", page)
    assert "url(" not in page and "@import" not in page
    for href in re.findall(r"href='([^']*)'", page):
        assert not re.match(r"[a-z]+:|//|/", href), href  # relative links only


def test_a_real_recorded_chaos_run_has_every_section_and_a_band_per_fault(tmp_path: Path) -> None:
    run_dir = Path(shutil.copytree(V1_RUN, tmp_path / "v1"))
    page = run_html.write(run_dir).read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f"<h2>{section}" in page
    assert "<span class='verdict pass'>PASS</span>" in page
    starts = [
        json.loads(line)
        for line in V1_RUN.joinpath("events.jsonl").read_text().splitlines()
        if '"fault.start"' in line
    ]
    titles = [title for _, _, title in bands(page)]
    # One band per fault window on each of the three time charts, titled by its fault.
    assert len(titles) == 3 * len(starts)
    for fault in starts:
        assert any(t.startswith(f"{fault['id']}: {fault['fault']} on ") for t in titles)
    assert "<a href='summary.json'>summary.json</a>" in page  # beside the page
    assert_self_contained(page)
    assert "http" not in page


def test_fault_bands_sit_where_the_fault_was_and_recovery_is_measured(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    chaos_run(run_dir)
    page = run_html.write(run_dir).read_text(encoding="utf-8")
    found = bands(page)
    assert len(found) == 3  # throughput, latency, nodes
    # From 19.5 s to 29.5 s, read off the charts' own time axis.
    ticks = {
        seconds(label): float(x)
        for x, label in re.findall(
            r"<text x='([\d.]+)' [^>]*'middle' class='tick'>([^<]+)</text>", page
        )
    }
    px_per_s = (ticks[50] - ticks[10]) / 40
    for x, width, title in found:
        assert title.startswith("s/f1: partition on n1 from 19.5 s to 29.5 s")
        assert ticks[10] + 9.5 * px_per_s == pytest.approx(x, abs=1)
        assert width == pytest.approx(10 * px_per_s, abs=1)
        assert x >= LEFT and x + width <= RIGHT
    (impact,) = measure(digest_file(run_dir / "events.jsonl"))
    assert impact.test == NODEID
    assert (impact.availability_before, impact.availability) == (1.0, 0.0)
    assert impact.first_ok_s == pytest.approx(0.5)  # the sample at 30 s counted an ok
    assert impact.back_s == pytest.approx(1.5)  # 95 ok/s at 31 s and 32 s: two in a row
    assert "100% → 0%" in page and "≤ 0.5 s" in page and "≤ 1.5 s" in page
    for section in SECTIONS:
        assert f"<h2>{section}" in page
    assert "<figcaption>Nodes</figcaption>" in page and "class='role leader'" in page
    assert "<span class='verdict fail'>FAIL</span>" in page
    assert "chaos.pass_rate == 1" in page and "class='st failed'" in page
    assert_self_contained(page)
    assert "http" not in page


def test_throughput_back_waits_for_the_baseline_sustained(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    made = [e for e in chaos_run(run_dir) if not (isinstance(e, events.WorkloadSample))]
    for s in range(1, 61):  # 100 ok/s; nothing in the fault; 10, 50, then 90 ok/s after it
        ok = 0 if 20 <= s <= 29 else {30: 10, 31: 50}.get(s, 100 if s < 20 else 90)
        made.append(sample(T0 + s, ok=ok, info=0 if ok else 5))
    write_events(run_dir, sorted(made, key=lambda e: e.ts))
    (impact,) = measure(digest_file(run_dir / "events.jsonl"))
    assert impact.first_ok_s == pytest.approx(0.5)
    assert impact.back_s == pytest.approx(2.5)  # 32 s: the first of two samples >= 80 ok/s


def test_every_text_from_the_run_is_escaped(tmp_path: Path) -> None:
    evil = "<script>alert('x')</script>&\"'"
    run_dir = tmp_path / "run"
    made = chaos_run(run_dir, nodeid=f"suites/t.py::test_{evil}")
    made.insert(3, events.Log(ts=T0 + 1, level="warning", message=evil, source=evil))
    made.insert(
        4,
        events.FaultStart(ts=T0 + 2, id=evil, fault=evil, target=(evil,), params={"k": evil}),
    )
    made.append(
        events.GateResult(
            ts=T0 + 63,
            name=evil,
            metric=evil,
            observed=evil,
            threshold=evil,
            passed=False,
            explanation=evil,
            status="failed",
        )
    )
    write_events(run_dir, made)
    page = run_html.write(run_dir).read_text(encoding="utf-8")
    assert "<script" not in page and "alert('x')" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;&quot;&#x27;" in page
    assert evil not in page


def test_a_run_without_a_cluster_says_so_instead_of_drawing_empty_charts(tmp_path: Path) -> None:
    run_dir = write_events(
        tmp_path / "run",
        [
            events.RunStart(ts=T0, seed=1, layers=("unit",), run_dir=str(tmp_path / "run")),
            events.LayerStart(ts=T0, layer="unit"),
            events.TestStart(ts=T0 + 1, layer="unit", nodeid="t.py::test_a"),
            events.TestEnd(ts=T0 + 2, layer="unit", nodeid="t.py::test_a", outcome="passed"),
            events.LayerEnd(ts=T0 + 2, layer="unit", outcome="passed"),
            events.RunEnd(ts=T0 + 3, verdict="pass", exit_code=0),
        ],
    )
    page = run_html.write(run_dir).read_text(encoding="utf-8")
    assert "<svg" not in page
    assert "there is nothing to draw over time" in page
    assert "No fault was injected in this run." in page
    assert "No checker judged a history in this run." in page
    assert "No gate was evaluated in this run." in page
    assert "t.py::test_a" in page


def test_a_workload_without_faults_or_nodes_draws_what_it_has_and_says_the_rest(
    tmp_path: Path,
) -> None:
    made: list[events.Event] = [events.RunStart(ts=T0, seed=1, layers=("performance",))]
    made += [sample(T0 + s, ok=50) for s in range(1, 11)]
    page = run_html.write(write_events(tmp_path / "run", made)).read_text(encoding="utf-8")
    assert "<figcaption>Throughput</figcaption><div" in page
    assert "no node samples recorded (no cluster ran)." in page
    assert "no test ran and no fault was injected." in page
    assert "UNFINISHED" in page  # no run.end: the run did not finish


def test_the_counterexample_timeline_a_verdict_names_is_linked_relatively(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    timeline = run_dir / "tests" / "t" / "history.timeline.html"
    timeline.parent.mkdir(parents=True)
    timeline.write_text("<html></html>")
    chaos_run(run_dir, timeline=str(timeline))
    page = run_html.write(run_dir).read_text(encoding="utf-8")
    assert "href='tests/t/history.timeline.html'" in page
    # Written elsewhere (-o), the link still leads to the file.
    other = run_html.write(run_dir, tmp_path / "elsewhere" / "r.html").read_text(encoding="utf-8")
    assert "href='../run/tests/t/history.timeline.html'" in other
    # The run directory moved (downloaded from CI): found under its new place.
    moved = tmp_path / "downloaded" / "run"
    shutil.move(run_dir, moved)
    page = run_html.write(moved).read_text(encoding="utf-8")
    assert "href='tests/t/history.timeline.html'" in page


def test_an_older_runs_verdict_links_the_timeline_in_its_tests_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    timeline = run_dir / "tests" / test_dir_name(NODEID) / "history.timeline.html"
    timeline.parent.mkdir(parents=True)
    timeline.write_text("<html></html>")
    stray = run_dir / "shrink" / "trial01" / "history.timeline.html"
    stray.parent.mkdir(parents=True)
    stray.write_text("<html></html>")
    chaos_run(run_dir)  # the verdict names no timeline, as before the field existed
    page = run_html.write(run_dir).read_text(encoding="utf-8")
    assert f"href='tests/{test_dir_name(NODEID)}/history.timeline.html'" in page
    assert "Other counterexample timelines" in page
    assert "href='shrink/trial01/history.timeline.html'" in page


def test_report_cli_rebuilds_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    chaos_run(run_dir)
    assert main(["report", str(run_dir)]) == 0
    assert capsys.readouterr().out == f"distlab: wrote {run_dir / 'report.html'}\n"
    assert main(["report", str(run_dir), "-o", str(tmp_path / "o" / "r.html")]) == 0
    assert (tmp_path / "o" / "r.html").read_text().startswith("<!doctype html>")


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p / "missing", "no such directory"),
        (lambda p: p, "no events.jsonl in this directory"),
        (lambda p: write_events(p / "r", []), "holds no distlab events"),
    ],
)
def test_report_cli_errors_are_one_line_and_exit_2(tmp_path: Path, make, says: str) -> None:
    target = make(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "distlab.cli.main", "report", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"distlab: error: {target}") and says in proc.stderr


def ci_config(tmp_path: Path, suite: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        "\n".join(
            [
                "[project]",
                'run_dir = "runs"',
                'reports_dir = "reports"',
                "[suites.chaos]",
                f"paths = {json.dumps([str(DATA / suite)])}",
                f"args = {json.dumps(PYTEST_ARGS)}",
            ]
        ),
        encoding="utf-8",
    )
    return config


def ci(tmp_path: Path, suite: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distlab.cli.main",
            "--ci",
            "--config",
            str(ci_config(tmp_path, suite)),
        ],
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1", "DISTLAB_BRANCH": "test-branch"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ci_writes_report_html_into_the_run_dir_and_prints_its_path(tmp_path: Path) -> None:
    proc = ci(tmp_path, "suites_report")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    (run_dir,) = (tmp_path / "runs").iterdir()
    report = run_dir / "report.html"
    assert f"distlab: run report {report}" in out.splitlines()
    page = report.read_text(encoding="utf-8")
    nodeid = "test_the_checker_finds_a_stale_read"
    assert nodeid in page and "<span class='verdict pass'>PASS</span>" in page
    # The checker's INVALID, asserted by a passing test, and its timeline, linked.
    assert "invalid (expected)" in page
    (timeline,) = run_dir.glob("tests/*/history.timeline.html")
    assert f"href='{timeline.relative_to(run_dir).as_posix()}'" in page
    assert len(bands(page)) == 2  # the fault, on the throughput and latency charts
    assert_self_contained(page)
    assert not list(run_dir.glob(".report.html.*"))  # no temp file left behind


def test_a_run_stopped_by_sigterm_still_writes_its_report(tmp_path: Path) -> None:
    proc = ci(tmp_path, "suites_hang")
    out, err = sigterm_once_hanging(proc, tmp_path / "runs")
    assert proc.returncode == 130, out + err
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert f"distlab: run report {run_dir / 'report.html'}" in out.splitlines()
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "<span class='verdict stopped'>STOPPED</span>" in page
    assert "test_quick" in page  # what finished before the interrupt


def test_faults_without_a_workload_are_listed_without_figures(tmp_path: Path) -> None:
    # A distributed-layer test cuts the network itself: a window, but nothing to measure.
    run_dir = write_events(
        tmp_path / "run",
        [
            events.RunStart(ts=T0, seed=1, layers=("distributed",)),
            events.TestStart(ts=T0 + 1, layer="distributed", nodeid=NODEID),
            events.NodeStateChanged(ts=T0 + 1, node="n1", state="up"),
            events.PartitionChanged(ts=T0 + 2, shape="groups", groups=(("n1",), ("n2", "n3"))),
            events.PartitionChanged(ts=T0 + 5),
            events.TestEnd(ts=T0 + 6, layer="distributed", nodeid=NODEID, outcome="passed"),
            events.RunEnd(ts=T0 + 7, verdict="pass", exit_code=0),
        ],
    )
    page = run_html.write(run_dir).read_text(encoding="utf-8")
    assert "no availability or recovery to measure" in page
    assert "first ok" not in page
    assert "n1 | n2,n3" in page and "3.0 s" in page  # the groups, for 3 s
    assert len(bands(page)) == 1  # on the node lanes; no workload charts to band


def kept(entry: str, path: str) -> bool:
    """Does an artifact path entry (a directory, or a glob) keep ``path``?"""
    return path.startswith(entry) if entry.endswith("/") else fnmatch.fnmatch(path, entry)


@pytest.mark.parametrize("recipe", sorted((DOCS / "ci").glob("*.yml")), ids=lambda p: p.name)
def test_every_ci_recipe_keeps_the_report_with_the_timelines_it_links(recipe: Path) -> None:
    report = ".distlab/runs/20260101-120000-7/report.html"
    timeline = ".distlab/runs/20260101-120000-7/tests/t/history.timeline.html"
    spec = yaml.safe_load(recipe.read_text())
    artifacts = [  # each artifact's paths: GitHub upload steps, GitLab jobs' artifacts
        step["with"]["path"].split()
        for job in spec.get("jobs", {}).values()
        for step in job.get("steps", [])
        if step.get("uses", "").startswith("actions/upload-artifact")
    ]
    artifacts += [
        job["artifacts"].get("paths", [])
        for job in spec.values()
        if isinstance(job, dict) and "artifacts" in job
    ]
    assert any(
        any(kept(e, report) for e in paths) and any(kept(e, timeline) for e in paths)
        for paths in artifacts
    ), recipe.name
