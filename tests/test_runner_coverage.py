"""Coverage of a layer with coverage.py: a real process and its child measured,
combined, reported; the config key checked at load time."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from distlab.config import load
from distlab.errors import ConfigError
from distlab.event_types import Event, TestStart
from distlab.runner import Run
from distlab.runner.coverage import LayerCoverage, combine_run, figures_of, package_of
from distlab.runner.progress import ProgressPrinter

DEMO = """
def parent(x):
    if x > 0:
        return "positive"
    return "other"


def child(x):
    if x > 0:
        return "child"
    return "never"
"""

# The parent calls parent(1) and starts a child interpreter that calls child(1):
# child() counts as run only if the child process was measured too.
SCRIPT = """
import subprocess, sys
import demo_cov.core as core
core.parent(1)
subprocess.run([sys.executable, "-c", "import demo_cov.core as c; c.child(1)"], check=True)
"""


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    pkg = tmp_path / "src" / "demo_cov"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core.py").write_text(textwrap.dedent(DEMO))
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "unused.py").write_text("def never():\n    return 1\n")
    return tmp_path / "src"


def run_measured(src: Path, cov: LayerCoverage, script: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(src), **cov.env()}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=src)


def test_a_process_and_its_child_are_measured_and_reported(demo: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cov = LayerCoverage("unit", ["demo_cov"], run_dir)
    run_measured(demo, cov, SCRIPT)
    assert len(list(cov.dir.glob(".coverage.*"))) == 2  # parent and child each saved data
    figures = cov.finish()
    assert figures is not None
    report = json.loads((cov.dir / "coverage.json").read_text())
    core = next(v for k, v in report["files"].items() if k.endswith("core.py"))
    executed = set(core["executed_lines"])
    # Line numbers of DEMO (dedented, first line empty): child's body ran in the child.
    assert {3, 4, 8, 9, 10} <= executed and 5 not in executed and 11 not in executed
    # core.py: 8 statements, 6 run (3 per process); sub/unused.py: 2, none run.
    # Branches: two ifs, each taken one way only.
    assert (figures.statements, figures.branches) == (10, 4)
    assert figures.lines_percent == pytest.approx(60.0)
    assert figures.branches_percent == pytest.approx(50.0)
    assert figures.percent == pytest.approx(100 * (6 + 2) / (10 + 4))
    # The never-imported module counts as 0%, not as absent.
    assert figures.packages["demo_cov.sub"] == 0.0
    assert 0 < figures.packages["demo_cov"] < 100
    assert Path(figures.html).is_file()
    names = [m.name for m in figures.metrics()]
    assert names[-1] == "coverage.percent"
    assert {m.tags.get("package") for m in figures.metrics()} >= {"demo_cov", "demo_cov.sub"}

    total = combine_run(run_dir, {"unit": ["demo_cov"]})
    assert total is not None
    assert total.percent == pytest.approx(figures.percent)
    assert (run_dir / "coverage" / "html" / "index.html").is_file()


def test_a_layer_with_no_data_has_no_figures(tmp_path: Path) -> None:
    cov = LayerCoverage("unit", ["demo_cov"], tmp_path)
    assert cov.finish() is None
    assert combine_run(tmp_path, {"unit": ["demo_cov"]}) is None


def test_the_rcfile_names_the_packages_and_writes_one_file_per_process(tmp_path: Path) -> None:
    text = LayerCoverage("chaos", ["a", "b.c"], tmp_path).rcfile.read_text()
    assert "source_pkgs = a, b.c" in text
    assert "parallel = true" in text and "branch = true" in text and "sigterm = true" in text


@pytest.mark.parametrize(
    ("path", "package"),
    [
        ("reference_system/infra/pool.py", "reference_system.infra"),
        ("reference_system/bugs.py", "reference_system"),
        ("/abs/reference_system/raft/core.py", "reference_system.raft"),
        ("reference_system/queue/__init__.py", "reference_system.queue"),
        ("elsewhere/mod.py", None),
    ],
)
def test_files_are_reported_under_the_measured_packages_subpackage(
    path: str, package: str | None
) -> None:
    assert package_of(path, ["reference_system"]) == package


def test_the_more_specific_measured_package_wins() -> None:
    assert package_of("a/b/c/d.py", ["a", "a.b"]) == "a.b.c"


def test_figures_of_nothing_measured_are_100_percent_as_coverage_says() -> None:
    f = figures_of({"num_statements": 0, "num_branches": 0, "percent_covered": 100.0}, {})
    assert (f.percent, f.lines_percent, f.branches_percent) == (100.0, 100.0, 100.0)


def test_the_config_key_rejects_a_name_that_is_not_a_package(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[suites.unit]\npaths = ["t"]\ncoverage = ["reference_system", "no good"]\n')
    with pytest.raises(ConfigError, match=r"config.toml:3: .*coverage.*'no good' is not a package"):
        load(path)
    path.write_text('[suites.unit]\npaths = ["t"]\ncoverage = ["reference_system"]\n')
    assert load(path).suites["unit"].coverage == ["reference_system"]


CHECK = """
import os, subprocess, sys
SRC = os.path.join(os.path.dirname(__file__), "src")
sys.path.insert(0, SRC)
import demo_cov.core as core


def test_parent_and_a_child_process():
    assert core.parent(1) == "positive"
    env = {**os.environ, "PYTHONPATH": SRC}
    code = "import demo_cov.core as c; c.child(1)"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def test_measured_only_where_asked():
    assert ("COVERAGE_PROCESS_START" in os.environ) == (os.environ["DISTLAB_LAYER"] == "unit")
"""


def test_the_runner_measures_a_layer_and_its_children_and_gates_the_figure(
    demo: Path, tmp_path: Path
) -> None:
    (tmp_path / "check_demo.py").write_text(CHECK)
    args = [
        "-o",
        "python_files=check_*.py",
        "-p",
        "no:hypothesispytest",
        "-p",
        "no:textual-snapshot",
    ]
    (tmp_path / "config.toml").write_text(
        '[project]\nrun_dir = "runs"\nreports_dir = "reports"\n'
        f'[suites.unit]\npaths = ["check_demo.py"]\nargs = {json.dumps(args)}\n'
        'coverage = ["demo_cov"]\norder = 1\n'
        f'[suites.concurrency]\npaths = ["check_demo.py"]\nargs = {json.dumps(args)}\norder = 2\n'
        "[gates]\n"
        '"unit.coverage.percent" = ">= 55"\n'
        '"unit.coverage.package_percent{package:demo_cov.sub}" = "== 0"\n'
    )
    out = io.StringIO()
    result = Run(
        load(tmp_path / "config.toml"), on_event=ProgressPrinter(out), record_history=False
    ).execute()
    assert result.verdict == "pass", (result.reason, out.getvalue())
    unit = {(m.name, m.tags.get("package", "")): m.value for m in result.layers[0].metrics}
    assert unit[("coverage.percent", "")] == pytest.approx(100 * 8 / 14)
    assert unit[("coverage.lines_percent", "")] == pytest.approx(60.0)
    assert not any(m.name.startswith("coverage.") for m in result.layers[1].metrics)
    assert result.coverage["percent"] == pytest.approx(100 * 8 / 14, abs=0.01)
    assert [g.passed for g in result.gates] == [True, True]
    text = out.getvalue()
    assert "[unit] coverage 57.1% (lines 60.0%, branches 50.0%)" in text
    assert "distlab: run coverage 57.1%" in text
    assert (Path(result.run_dir) / "coverage" / "unit" / "html" / "index.html").is_file()
    assert (Path(result.run_dir) / "coverage" / "html" / "index.html").is_file()


def hanging_layer(tmp_path: Path, extra: str = "") -> Path:
    """A measured unit layer: a test that starts a child process, then one that hangs."""
    (tmp_path / "check_hang.py").write_text(
        CHECK.replace("def test_measured_only_where_asked", "def _unused")
        + "\n\ndef test_hangs():\n    import time\n    time.sleep(120)\n"
    )
    args = ["-o", "python_files=check_*.py", "-p", "no:hypothesispytest"]
    (tmp_path / "config.toml").write_text(
        '[project]\nrun_dir = "runs"\nreports_dir = "reports"\n'
        f'[suites.unit]\npaths = ["check_hang.py"]\nargs = {json.dumps(args)}\n'
        f'coverage = ["demo_cov"]\n{extra}'
    )
    return tmp_path / "config.toml"


def test_a_layer_killed_at_its_timeout_records_no_coverage_figure(
    demo: Path, tmp_path: Path
) -> None:
    # Its children saved their data, pytest itself never did: a figure from the
    # children alone would read as a real, very low coverage.
    config = hanging_layer(tmp_path, "timeout_s = 15\n")
    result = Run(load(config), record_history=False).execute()
    unit = result.layers[0]
    assert unit.outcome == "timeout"
    assert not [m for m in unit.metrics if m.name.startswith("coverage.")]
    assert "coverage" in unit.reason


def test_a_stopped_layer_records_no_coverage_figure(demo: Path, tmp_path: Path) -> None:
    # The stop kills pytest before it saves its own data, as a timeout does.
    config = hanging_layer(tmp_path)
    hanging = threading.Event()

    def on_event(event: Event) -> None:
        if isinstance(event, TestStart) and event.nodeid.endswith("test_hangs"):
            hanging.set()

    run = Run(load(config), on_event=on_event, record_history=False)
    run.start()
    try:
        assert hanging.wait(60), "the hanging test never started"
    finally:
        run.stop()
    result = run.wait(60)
    assert result is not None
    unit = result.layers[0]
    assert unit.outcome == "stopped"
    assert [t.outcome for t in unit.tests] == ["passed"]  # the child-spawning test ran
    assert not [m for m in unit.metrics if m.name.startswith("coverage.")]
    assert "coverage not recorded: the layer was stopped" in unit.reason
    assert not result.coverage


def test_the_dashboard_layer_table_shows_coverage_per_layer_and_for_the_run() -> None:
    from rich.console import Console

    from distlab import events
    from distlab.tui.components.layer_progress import LayerProgress
    from distlab.tui.state import LabState

    state = LabState()
    state.apply(events.RunStart(seed=1, layers=("unit", "chaos")))
    state.apply(events.LayerStart(layer="unit"))
    state.apply(events.Metric(layer="unit", name="coverage.percent", value=84.26, unit="%"))
    widget = LayerProgress(state)
    widget.refresh_from_state()
    console = Console(width=80, record=True)
    console.print(widget.content)
    lines = console.export_text().splitlines()
    assert "cov 84%" in lines[0] and "cov" not in lines[1]  # chaos has no figure
    assert "cov" not in lines[2]  # no run total yet
    state.apply(events.Metric(layer="run", name="coverage.percent", value=80.0, unit="%"))
    widget.refresh_from_state()
    console.print(widget.content)
    assert "cov 80%" in console.export_text().splitlines()[2]
