"""Run one layer: its pytest subprocess, then reruns of what failed.

The outcome says what happened, never "0 tests passed" for a layer that did
not really run: ``passed``, ``failed``, ``error`` (collection error, usage
error, the lab broke, stopped), ``timeout``, ``empty`` or ``crashed``.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distlab import checks, events
from distlab.config.schema import SuiteSettings
from distlab.env import CONFIG_ENV, EVENTS_ENV, LAYER_ENV, LONG_ENV, RUN_DIR_ENV, SEED_ENV
from distlab.results import (
    COUNTED_OUTCOMES,
    FAILING_OUTCOMES,
    Attempt,
    LayerResult,
    TestResult,
)
from distlab.runner import jsonreport
from distlab.runner.coverage import LayerCoverage
from distlab.runner.listener import EventListener
from distlab.runner.live import LiveState
from distlab.runner.pytest_process import PytestExit, run_pytest
from distlab.seeds import derive

# Beyond this many failures a rerun would only repeat a broken layer.
MAX_RERUN_TESTS = 100


@dataclass
class LayerPlan:
    """What to run for one layer, resolved against the config file's directory."""

    name: str
    settings: SuiteSettings
    targets: list[str]  # paths, or node ids when running single tests


@dataclass
class LayerRun:
    """A finished layer and what its failure means for the run's exit code."""

    result: LayerResult
    lab_error: str = ""  # the lab broke: exit 3
    usage_error: str = ""  # pytest rejected its arguments: exit 2
    attempts: int = 1
    reports: list[Path] = field(default_factory=list)


@dataclass
class LayerContext:
    """What every layer of one run shares."""

    seed: int
    run_dir: Path
    cwd: Path
    config_path: Path
    listener: EventListener
    live: LiveState
    stop: threading.Event
    long: bool = False
    extra_args: list[str] = field(default_factory=list)


class LayerRunner:
    """Runs one layer to a ``LayerRun``; publishes ``layer.start``/``layer.end``."""

    def __init__(self, plan: LayerPlan, ctx: LayerContext) -> None:
        self.plan = plan
        self.ctx = ctx
        self.name = plan.name
        (ctx.run_dir / "layers").mkdir(exist_ok=True)
        (ctx.run_dir / "logs").mkdir(exist_ok=True)
        self.log_path = ctx.run_dir / "logs" / f"{self.name}.log"
        self.rootdir = str(ctx.cwd)
        packages = plan.settings.coverage
        self.coverage = LayerCoverage(self.name, packages, ctx.run_dir) if packages else None

    def run(self) -> LayerRun:
        started = time.monotonic()
        settings = self.plan.settings
        run = self._first_attempt()
        if run.result.outcome == "failed" and settings.reruns > 0:
            self._rerun(run, started)
        run.result.duration_s = time.monotonic() - started
        self._finish_coverage(run)
        counts = run.result.counts()
        self.ctx.listener.publish(
            events.LayerEnd(
                layer=self.name,
                outcome=run.result.outcome,
                counts={k: counts.get(k, 0) for k in COUNTED_OUTCOMES},
                duration_s=run.result.duration_s,
                reason=run.result.reason,
            )
        )
        return run

    # -- one pytest process -------------------------------------------------

    def _attempt(
        self, attempt: int, targets: list[str], timeout_s: float
    ) -> tuple[PytestExit, dict[str, Any] | None, Path]:
        suffix = "" if attempt == 0 else f".rerun{attempt}"
        report_path = self.ctx.run_dir / "layers" / f"{self.name}{suffix}.json"
        self.ctx.listener.publish(events.LayerStart(layer=self.name, attempt=attempt))
        self.ctx.live.begin(self.name)
        address = self.ctx.listener.open_endpoint(self.name)
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"== {self.name} attempt {attempt}: {len(targets)} target(s)\n")
        try:
            exit_ = run_pytest(
                self._args(report_path, targets),
                env=self._env(address),
                cwd=self.ctx.cwd,
                log_path=self.log_path,
                timeout_s=timeout_s,
                stop=self.ctx.stop,
                run_dir=self.ctx.run_dir,
                label=f"pytest {self.name}",
            )
        finally:
            # Drain before judging: the events are the fallback record of a
            # pytest that died without a report.
            self.ctx.listener.close_endpoint(address)
        report = None if exit_.killed_by_us else jsonreport.load_report(report_path)
        return exit_, report, report_path

    def _args(self, report_path: Path, targets: list[str]) -> list[str]:
        settings = self.plan.settings
        args = [
            "--json-report",
            f"--json-report-file={report_path}",
            # nargs="+": keep it before the other options, never before targets.
            "--json-report-omit",
            "keywords",
            "log",
            "collectors",
            "-p",
            "no:cacheprovider",
            "--color=no",
            *_unneeded_plugins(settings.args),
        ]
        if settings.markers:
            args += ["-m", settings.markers]
        return [*args, *settings.args, *self.ctx.extra_args, *targets]

    def _env(self, address: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                EVENTS_ENV: address,
                SEED_ENV: str(self.ctx.seed),
                RUN_DIR_ENV: str(self.ctx.run_dir),
                CONFIG_ENV: str(self.ctx.config_path),
                LAYER_ENV: self.name,
                "PYTHONUNBUFFERED": "1",
            }
        )
        # Set and dict order then repeat from run to run with the same seed.
        env.setdefault("PYTHONHASHSEED", str(derive(self.ctx.seed, "pythonhashseed") % 2**32))
        if self.ctx.long:
            env[LONG_ENV] = "1"
        if self.coverage is not None:
            env.update(self.coverage.env())
        return env

    def _finish_coverage(self, run: LayerRun) -> None:
        """The layer's coverage figures become its metrics and a ``coverage`` event."""
        if self.coverage is None:
            return
        figures = self.coverage.finish()
        outcome = run.result.outcome
        if figures is None or outcome in ("timeout", "crashed", "stopped"):
            # A pytest we killed or stopped (or that died) never saved its own data:
            # a figure from its children alone would read as a real, very low
            # coverage (a stop after 118 unit tests showed "cov 5%").
            if figures is None:
                why = "no coverage data"
            elif outcome == "stopped":
                why = "coverage not recorded: the layer was stopped"
            else:
                why = "coverage not recorded: pytest died"
            run.result.reason += ("; " if run.result.reason else "") + why
            return
        run.result.metrics += figures.metrics()
        for m in figures.metrics():
            self.ctx.listener.publish(
                events.Metric(layer=self.name, name=m.name, value=m.value, unit=m.unit, tags=m.tags)
            )

    # -- judging the first attempt -----------------------------------------

    def _first_attempt(self) -> LayerRun:
        settings = self.plan.settings
        exit_, report, report_path = self._attempt(0, self.plan.targets, settings.timeout_s)
        result = LayerResult(
            layer=self.name, required=settings.required, config_line=settings.line or None
        )
        result.report_path = str(report_path) if report is not None else ""
        run = LayerRun(result=result, reports=[report_path] if report is not None else [])
        if report is None:
            self._judge_without_report(run, exit_)
        else:
            # Node ids are relative to pytest's rootdir, which need not be our cwd.
            self.rootdir = str(report.get("root") or self.ctx.cwd)
            self._judge_report(run, report)
        return run

    def _judge_without_report(self, run: LayerRun, exit_: PytestExit) -> None:
        result = run.result
        running = self.ctx.live.running(self.name)
        during = f" while running {running}" if running else ""
        result.tests = self.ctx.live.finished_tests(self.name)
        if exit_.stopped:
            n = len(result.tests)
            result.outcome, result.reason = "stopped", f"stopped after {n} test(s){during}"
        elif exit_.timed_out:
            result.outcome = "timeout"
            result.reason = (
                f"killed after {self.plan.settings.timeout_s:g}s "
                f"([suites.{self.name}] timeout_s){during}"
            )
        elif exit_.returncode == 4:
            result.outcome = "error"
            run.usage_error = f"pytest rejected the arguments of [suites.{self.name}]: " + (
                _log_tail(self.log_path) or "see the log"
            )
            result.reason = run.usage_error
        else:
            result.outcome = "crashed"
            result.reason = f"{exit_.describe()}{during}; log: {self.log_path}"
        # The test a timeout or crash cut short failed; one the user stopped did not.
        if running and result.outcome not in ("error", "stopped"):
            result.tests.append(
                TestResult(
                    nodeid=running,
                    layer=self.name,
                    outcome="error",
                    file=running.split("::")[0],
                    line=self.ctx.live.line_of(self.name, running),
                    message=result.reason,
                    duration_s=self.ctx.live.running_for(self.name),
                )
            )

    def _judge_report(self, run: LayerRun, report: dict[str, Any]) -> None:
        result = run.result
        result.tests = jsonreport.tests_of(report, self.name)
        result.metrics = jsonreport.metrics_of_report(report)
        code = report.get("exitcode")
        lab = jsonreport.lab_errors(report)
        broken = jsonreport.collect_errors(report)
        failing = [t for t in result.tests if t.outcome in FAILING_OUTCOMES]
        if lab:
            nodeid, message = next(iter(lab.items()))
            run.lab_error = f"{message} (in {nodeid})"
            result.outcome, result.reason = "error", f"the lab broke: {run.lab_error}"
        elif broken:
            first = result.tests[0]
            more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
            result.outcome = "error"
            result.reason = f"{first.message} in {first.nodeid}{more}"
        elif code == 5:
            result.outcome = "empty"
            deselected = (report.get("summary") or {}).get("deselected", 0)
            where = ", ".join(self.plan.targets)
            result.reason = (
                f"all {deselected} tests deselected by -m {self.plan.settings.markers!r}"
                if deselected
                else f"collected no tests from {where}"
            )
        elif code == 3:
            result.outcome, result.reason = (
                "crashed",
                f"pytest internal error; log: {self.log_path}",
            )
        elif code == 2 and not failing:
            result.outcome, result.reason = "error", "pytest was interrupted (pytest.exit?)"
        elif failing or code != 0:
            result.outcome = "failed"
            result.reason = f"{len(failing)} failed: {failing[0].nodeid}" if failing else ""
        else:
            result.outcome = "passed"

    # -- reruns -------------------------------------------------------------

    def _rerun(self, run: LayerRun, started: float) -> None:
        result = run.result
        by_id = {t.nodeid: t for t in result.tests}
        pending = [t.nodeid for t in result.tests if t.outcome in FAILING_OUTCOMES]
        if len(pending) > MAX_RERUN_TESTS:
            result.reason += f"; not rerun: more than {MAX_RERUN_TESTS} failures"
            return
        for attempt in range(1, self.plan.settings.reruns + 1):
            budget = self.plan.settings.timeout_s - (time.monotonic() - started)
            if not pending or budget <= 1 or self.ctx.stop.is_set():
                break
            targets = [os.path.join(self.rootdir, nodeid) for nodeid in pending]
            exit_, report, path = self._attempt(attempt, targets, budget)
            run.attempts += 1
            if report is None:
                result.reason += f"; rerun {attempt} ended early: " + (
                    "timeout" if exit_.timed_out else exit_.describe()
                )
                break
            run.reports.append(path)
            again = {t.nodeid: t for t in jsonreport.tests_of(report, self.name)}
            still = []
            for nodeid in pending:
                first = by_id[nodeid]
                retry = again.get(nodeid)
                refuted = [
                    c
                    for v in (first.verdicts, *(a.verdicts for a in first.attempts))
                    for c in checks.invalid(v)
                ]
                if retry is not None and retry.outcome == "passed" and refuted:
                    # A checker's counterexample is a fact about the system, not a
                    # hiccup of the lab: a later clean history does not undo it. The
                    # test keeps that failure; the message says what the rerun saw.
                    seen = ", ".join(retry.verdicts) or "no history check"
                    first.message = (
                        f"{first.message} [{', '.join(sorted(set(refuted)))}: history INVALID; "
                        f"rerun {attempt} passed ({seen}), which does not make it flaky]"
                    )
                    self.ctx.listener.publish(
                        events.TestEnd(
                            layer=self.name,
                            nodeid=nodeid,
                            outcome=first.outcome,
                            duration_s=first.duration_s,
                            message=first.message,
                            longrepr=first.longrepr,
                            file=first.file or "",
                            line=first.line,
                        )
                    )
                    continue
                first.attempts.append(_as_attempt(first))
                if retry is not None and retry.outcome == "passed":
                    first.outcome = "flaky"
                    first.duration_s = retry.duration_s
                    self.ctx.listener.publish(
                        events.TestEnd(
                            layer=self.name,
                            nodeid=nodeid,
                            outcome="flaky",
                            duration_s=retry.duration_s,
                            message=f"infrastructure flake (no history check refuted it): passed on rerun {attempt} after: {first.message}",
                            file=first.file or "",
                            line=first.line,
                        )
                    )
                    continue
                if retry is not None:
                    _take_failure(first, retry)
                still.append(nodeid)
            pending = still
        failing = [t for t in result.tests if t.outcome in FAILING_OUTCOMES]
        flaky = sum(1 for t in result.tests if t.outcome == "flaky")
        if not failing:
            result.outcome = "passed"
            result.reason = f"{flaky} flaky (passed on a rerun)"
        else:
            result.reason = f"{len(failing)} failed after {run.attempts - 1} rerun(s): " + (
                failing[0].nodeid
            )


def _as_attempt(test: TestResult) -> Attempt:
    return Attempt(
        message=test.message,
        longrepr=test.longrepr,
        duration_s=test.duration_s,
        stdout=test.stdout,
        stderr=test.stderr,
        verdicts=list(test.verdicts),
    )


def _take_failure(test: TestResult, retry: TestResult) -> None:
    """The latest failure becomes the test's own; earlier ones stay in ``attempts``."""
    test.outcome = retry.outcome
    test.message, test.longrepr = retry.message, retry.longrepr
    test.stdout, test.stderr = retry.stdout, retry.stderr
    test.duration_s = retry.duration_s
    test.verdicts = list(retry.verdicts)


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    useful = [line.strip() for line in lines if line.strip() and not line.startswith("==")]
    return useful[-1] if useful else ""


# Snapshot plugins a layer's suites do not use, but which make a temp dir at
# session start and remove it only at a clean session end: every interrupted
# run left one behind (issue 14 item 10). A layer whose args name one keeps it.
_SNAPSHOT_PLUGINS = ("textual-snapshot", "syrupy")


def _unneeded_plugins(layer_args: list[str]) -> list[str]:
    wanted = " ".join(layer_args)
    return [a for p in _SNAPSHOT_PLUGINS if p not in wanted for a in ("-p", f"no:{p}")]
