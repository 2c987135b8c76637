"""Coverage of a layer, with coverage.py: the layer's pytest and every Python
process it starts (nodes, processors), combined into one figure per layer and
one for the run.

Measurement rides on coverage.py's own subprocess support: coverage 7.x puts
a ``.pth`` file in site-packages that starts measuring in any Python process
whose environment names a config file in ``COVERAGE_PROCESS_START``. The
runner writes that file per layer and sets the variable in the layer's
environment only; every child inherits it, so a node started by the cluster
fixture is measured without knowing about coverage. With no ``coverage`` key
nothing is set and the ``.pth`` hook is one ``getenv``.

A process ended by SIGKILL (a chaos kill, a node that ignored SIGTERM) never
writes its data: those lines count as not run. ``sigterm = true`` makes a
process stopped by SIGTERM save first.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distlab.results import Metric

# The variable coverage's .pth hook reads (coverage.process_startup).
PROCESS_START_ENV = "COVERAGE_PROCESS_START"
UNIT = "%"


@dataclass
class CoverageFigures:
    """What coverage.py found: totals and one figure per package."""

    percent: float  # coverage.py's own total: lines and branches together
    lines_percent: float
    branches_percent: float
    statements: int
    branches: int
    packages: dict[str, float] = field(default_factory=dict)
    html: str = ""
    report_s: float = 0.0  # time spent combining and reporting

    def metrics(self) -> list[Metric]:
        """The figures as a layer's metrics; ``coverage.percent`` comes last, so a
        reader of the event stream has the parts when the total arrives."""
        found = [
            Metric("coverage.package_percent", percent, UNIT, tags={"package": package})
            for package, percent in sorted(self.packages.items())
        ]
        found.append(Metric("coverage.lines_percent", self.lines_percent, UNIT))
        found.append(Metric("coverage.branches_percent", self.branches_percent, UNIT))
        found.append(Metric("coverage.percent", self.percent, UNIT))
        return found

    def fields(self) -> dict[str, Any]:
        """The figures as plain data (``summary.json``)."""
        return {
            "percent": round(self.percent, 2),
            "lines_percent": round(self.lines_percent, 2),
            "branches_percent": round(self.branches_percent, 2),
            "statements": self.statements,
            "branches": self.branches,
            "packages": {k: round(v, 2) for k, v in sorted(self.packages.items())},
            "html": self.html,
            "report_s": round(self.report_s, 3),
        }

    def line(self) -> str:
        """One line for a progress log."""
        return (
            f"coverage {self.percent:.1f}% (lines {self.lines_percent:.1f}%, "
            f"branches {self.branches_percent:.1f}%)"
        )


class LayerCoverage:
    """Coverage of one layer: the config file its processes read, and the figures after."""

    def __init__(self, layer: str, packages: list[str], run_dir: Path) -> None:
        self.layer = layer
        self.packages = list(packages)
        self.dir = run_dir / "coverage" / layer
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rcfile = self.dir / "coveragerc"
        self.rcfile.write_text(rcfile_text(self.packages, self.dir / ".coverage"))

    def env(self) -> dict[str, str]:
        """What to add to the layer's environment so that it and its children are measured."""
        return {PROCESS_START_ENV: str(self.rcfile)}

    def finish(self) -> CoverageFigures | None:
        """Combine every process's data, write the HTML and JSON reports; None if nothing ran."""
        started = time.monotonic()
        parts = [str(p) for p in self.dir.glob(".coverage.*")]
        if not parts:
            return None
        cov = _coverage(self.rcfile, self.dir / ".coverage")
        cov.combine(parts)
        cov.save()
        return _report(cov, self.dir, self.packages, f"distlab {self.layer} layer", started)


def combine_run(run_dir: Path, measured: dict[str, list[str]]) -> CoverageFigures | None:
    """One total for the run: the data of every measured layer (name -> packages)
    together, with its own HTML report in ``<run dir>/coverage/html``."""
    started = time.monotonic()
    out = run_dir / "coverage"
    files = [out / layer / ".coverage" for layer in measured]
    files = [f for f in files if f.exists()]
    if not files:
        return None
    packages = sorted({p for names in measured.values() for p in names})
    rcfile = out / "coveragerc"
    rcfile.write_text(rcfile_text(packages, out / ".coverage"))
    cov = _coverage(rcfile, out / ".coverage")
    cov.combine([str(f) for f in files], keep=True)
    cov.save()
    return _report(cov, out, packages, "distlab run", started)


def rcfile_text(packages: list[str], data_file: Path) -> str:
    """A coverage.py config: branch coverage of ``packages``, one data file per process."""
    return (
        "[run]\n"
        f"source_pkgs = {', '.join(packages)}\n"
        "branch = true\n"
        # Every process writes .coverage.<host>.<pid>.<random>; combined afterwards.
        "parallel = true\n"
        f"data_file = {data_file}\n"
        # A node or processor stopped with SIGTERM saves its data before it dies.
        "sigterm = true\n"
        "disable_warnings = no-data-collected, module-not-imported\n"
    )


def _coverage(rcfile: Path, data_file: Path) -> Any:
    import coverage  # only when coverage is on: a plain run never imports it

    return coverage.Coverage(data_file=str(data_file), config_file=str(rcfile), messages=False)


def _report(
    cov: Any, out: Path, packages: list[str], title: str, started: float
) -> CoverageFigures:
    json_path = out / "coverage.json"
    cov.json_report(outfile=str(json_path), ignore_errors=True)
    cov.html_report(directory=str(out / "html"), title=title, ignore_errors=True)
    data = json.loads(json_path.read_text())
    totals = data.get("totals") or {}
    figures = figures_of(totals, _by_package(data.get("files") or {}, packages))
    figures.html = str(out / "html" / "index.html")
    figures.report_s = time.monotonic() - started
    return figures


def figures_of(totals: dict[str, Any], packages: dict[str, float]) -> CoverageFigures:
    """Totals of coverage.py's JSON report as figures (100% of nothing is 100%, as coverage says)."""
    statements = int(totals.get("num_statements", 0))
    branches = int(totals.get("num_branches", 0))
    return CoverageFigures(
        percent=float(totals.get("percent_covered", 0.0)),
        lines_percent=_percent(int(totals.get("covered_lines", 0)), statements),
        branches_percent=_percent(int(totals.get("covered_branches", 0)), branches),
        statements=statements,
        branches=branches,
        packages=packages,
    )


def _percent(covered: int, total: int) -> float:
    return 100.0 * covered / total if total else 100.0


def package_of(path: str, packages: list[str]) -> str | None:
    """The package a file is reported under: a measured package's direct subpackage,
    or the measured package itself for its own modules (``reference_system/infra/pool.py``
    -> ``reference_system.infra``; ``reference_system/bugs.py`` -> ``reference_system``)."""
    parts = Path(path).with_suffix("").parts
    best: str | None = None
    for package in packages:
        prefix = package.split(".")
        n = len(prefix)
        # Files are reported by path; match the package's directory anywhere in it.
        for i in range(len(parts) - n):
            if list(parts[i : i + n]) == prefix:
                rest = parts[i + n :]
                name = package + ("." + rest[0] if len(rest) > 1 else "")
                if best is None or len(name) > len(best):
                    best = name
                break
    return best


def _by_package(files: dict[str, Any], packages: list[str]) -> dict[str, float]:
    covered: dict[str, int] = {}
    total: dict[str, int] = {}
    for path, info in files.items():
        name = package_of(path, packages)
        if name is None:
            continue
        s = info.get("summary") or {}
        covered[name] = (
            covered.get(name, 0)
            + int(s.get("covered_lines", 0))
            + int(s.get("covered_branches", 0))
        )
        total[name] = (
            total.get(name, 0) + int(s.get("num_statements", 0)) + int(s.get("num_branches", 0))
        )
    return {name: _percent(covered[name], total[name]) for name in total}
