"""A whole run: the layers in order, gates, reports, history and exit code.

``Run`` is the API both front ends use. ``--ci`` calls ``execute()`` and
prints events as they come; the TUI calls ``start()``, gets every event on
its callback (from a background thread: post it to the app, do not draw
there), and may ``stop()`` at any time. Single tests run through ``only``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from distlab import events
from distlab.config.schema import Config
from distlab.errors import ExitCode, LabError
from distlab.proc import reap_orphans
from distlab.results import LayerResult, RunResult
from distlab.rundir import create_run_dir, prune_runs
from distlab.runner import outputs, plan, verdict
from distlab.runner.coverage import combine_run
from distlab.runner.layer import LayerContext, LayerPlan, LayerRun, LayerRunner
from distlab.runner.listener import EventCallback, EventListener
from distlab.runner.live import LiveState
from distlab.runner.shard import Shard, ShardPlan, plan_shard_of
from distlab.seeds import new_root_seed


class Run:
    """One run of some layers of a config. Construction validates; nothing starts yet."""

    def __init__(
        self,
        config: Config,
        *,
        layers: str | list[str] | None = None,
        only: dict[str, list[str]] | None = None,
        seed: int | None = None,
        junit_xml: Path | None = None,
        reports_dir: Path | None = None,
        project_reports: bool = True,
        on_event: EventCallback | None = None,
        keep_going: bool = False,
        long: bool = False,
        extra_args: list[str] | None = None,
        record_history: bool = True,
        shard: Shard | None = None,
    ) -> None:
        self.config = config
        self.base = plan.config_dir(config)
        if isinstance(layers, list):
            layers = ",".join(layers)
        names = plan.select_layers(config, layers)
        self.shard: ShardPlan | None = None
        if shard is not None:
            if only is not None:
                raise ValueError("a sharded run picks its own tests; it takes no `only`")
            # Collected here, before anything starts: a bad suite is still exit 2.
            self.shard = plan_shard_of(config, self.base, names, shard)
            names = [n for n in names if n in self.shard.tests or n in self.shard.whole]
            only = dict(self.shard.targets)  # a layer run whole is not in it: all its paths
        elif only is not None:
            names = [n for n in names if n in only]
        self.layers = names
        self.plans: list[LayerPlan] = plan.plan_layers(config, names, only)
        gates = plan.check_gates(config)
        # A shard judges no gate: one share of a layer says nothing about the
        # layer. `distlab merge` judges them over every shard's results.
        self.gates = [] if self.shard is not None else gates
        self.seed = new_root_seed() if seed is None else seed
        reports = reports_dir or self.base / config.project.reports_dir
        self.summary_path = reports / "summary.json"
        self.junit_path = junit_xml or reports / "junit.xml"
        # False for the dashboard's runs: reports/ is CI's; theirs stay in the run dir.
        self.project_reports = project_reports
        if project_reports:
            plan.check_writable(self.summary_path, "reports directory")
            plan.check_writable(self.junit_path, "--junit-xml")
        self.runs_root = self.base / config.project.run_dir
        self.on_event = on_event
        self.keep_going = keep_going
        self.long = long
        self.extra_args = list(extra_args or [])
        # A shard is part of a run: as a baseline or a duration source it would
        # mislead, and shards recording one after another would each split the
        # tests by a different history. `distlab merge` records the whole run.
        self.record = record_history and self.shard is None
        self.reaped: list[str] = []
        self.notes: list[str] = []
        self.written: list[Path] = []
        self.run_dir: Path | None = None
        self.report_path: Path | None = None  # report.html, once written
        self.report_problem = ""  # why it was not
        self.result: RunResult | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._started = threading.Event()

    # -- the background API -------------------------------------------------

    def start(self) -> None:
        """Run in a background thread; events go to ``on_event``."""
        if self._thread is not None:
            raise RuntimeError("a Run starts once")
        self._started.set()
        self._thread = threading.Thread(target=self._execute_quietly, name="distlab-run")
        self._thread.start()

    def stop(self) -> None:
        """Kill what runs now, skip what has not started; ``wait()`` returns soon after."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> RunResult | None:
        """The result once the run has finished (None if ``timeout`` passed first)."""
        self._done.wait(timeout)
        return self.result

    @property
    def running(self) -> bool:
        """Started (``start()`` or ``execute()``) and not finished yet."""
        return self._started.is_set() and not self._done.is_set()

    @property
    def finished(self) -> bool:
        """The run has ended (result or error available)."""
        return self._done.is_set()

    @property
    def error(self) -> BaseException | None:
        """What ended a background run early (a LabError), if anything."""
        return getattr(self, "_error", None)

    def _execute_quietly(self) -> None:
        try:
            self.execute()
        except BaseException as e:  # handed to the caller through .error
            self._error = e
            self._done.set()

    # -- the run ----------------------------------------------------------------

    def execute(self) -> RunResult:
        """Run everything in this thread and return the result (also in ``self.result``)."""
        self._started.set()
        try:
            self.reaped = reap_orphans(self.runs_root)
            try:
                self.run_dir = create_run_dir(
                    self.runs_root, self.seed, shared=self.config.project.shared_reports
                )
            except OSError as e:
                raise LabError(
                    f"cannot create the run directory under {self.runs_root}: {e.strerror}"
                ) from None
            prune_runs(self.runs_root, self.config.project.keep_runs, self.run_dir)
            live = LiveState()

            def dispatch(event: events.Event) -> None:
                live.observe(event)
                if self.on_event is not None:
                    self.on_event(event)

            listener = EventListener(self.run_dir / "events.jsonl", dispatch)
            try:
                return self._execute(listener, live)
            finally:
                listener.close()
                self._write_run_report()
        finally:
            self._done.set()

    def _execute(self, listener: EventListener, live: LiveState) -> RunResult:
        assert self.run_dir is not None
        branch = outputs.current_branch(self.base)
        result = RunResult(
            seed=self.seed,
            started=time.time(),
            run_dir=str(self.run_dir),
            config=self.config.path,
            branch=branch,
            layers=[
                LayerResult(
                    layer=p.name, required=p.settings.required, config_line=p.settings.line or None
                )
                for p in self.plans
            ],
        )
        if self.shard is not None:
            result.shard = self.shard.to_dict()
        self.result = result
        listener.publish(
            events.RunStart(
                seed=self.seed,
                layers=tuple(self.layers),
                run_dir=str(self.run_dir),
                config=str(self.config.path),
            )
        )
        for line in self.reaped:
            listener.publish(events.Log(level="warning", message=line, source="runner"))
        baseline = outputs.last_passing(self.runs_root, branch)
        ctx = LayerContext(
            seed=self.seed,
            run_dir=self.run_dir,
            cwd=self.base,
            config_path=Path(self.config.path).resolve(),
            listener=listener,
            live=live,
            stop=self._stop,
            long=self.long,
            extra_args=self.extra_args,
        )
        layer_runs = self._run_layers(ctx, result, baseline)
        self._combine_coverage(listener, result)
        result.gates = verdict.evaluate_gates(self.gates, result, baseline)
        for v in result.gates:
            listener.publish(verdict.gate_event(v))
        code, verdict_, reason = verdict.decide(result, layer_runs, self._stop.is_set())
        result.exit_code, result.verdict, result.reason = code, verdict_, reason
        result.finished = time.time()
        junit, summary = [self.run_dir / "junit.xml"], [self.run_dir / "summary.json"]
        if self.project_reports:
            junit.insert(0, self.junit_path)
            summary.insert(0, self.summary_path)
        self.written, problems = outputs.write_reports(
            result,
            junit=junit,
            summary=summary,
            shared=self.config.project.shared_reports,
        )
        for problem in problems:
            self._note(listener, problem)
        if problems and result.exit_code in (0, 1):
            # Checked writable at the start, so the lab broke (a full disk): a
            # run whose reports are missing must not look green to CI.
            result.exit_code, result.verdict = int(ExitCode.LAB), "error"
            result.reason = problems[0]
        if self.record:  # a stopped run too: `distlab history` lists it as stopped
            note = outputs.record_history(result, self.runs_root)
            if note:
                self._note(listener, note)
        listener.publish(
            events.RunEnd(
                verdict=result.verdict,
                exit_code=result.exit_code,
                duration_s=result.duration_s,
                reason=result.reason,
            )
        )
        return result

    def _combine_coverage(self, listener: EventListener, result: RunResult) -> None:
        """The run's coverage over every measured layer, published under the layer name "run"."""
        assert self.run_dir is not None
        measured = {p.name: p.settings.coverage for p in self.plans if p.settings.coverage}
        # A total over some of the layers reads as the run's, and low: none when a
        # measured layer has no figure of its own (stopped, killed, never run).
        missing = [name for name in measured if not _has_coverage(result.layer(name))]
        if missing:
            self._note(listener, f"run coverage not combined: no figure from {', '.join(missing)}")
            return
        figures = combine_run(self.run_dir, measured) if measured else None
        if figures is None:
            return
        result.coverage = figures.fields()
        for m in figures.metrics():
            listener.publish(
                events.Metric(layer="run", name=m.name, value=m.value, unit=m.unit, tags=m.tags)
            )

    def _write_run_report(self) -> None:
        """report.html from the closed event log: the page `distlab report` rebuilds."""
        assert self.run_dir is not None
        shared = self.config.project.shared_reports
        self.report_path, self.report_problem = outputs.write_run_report(self.run_dir, shared)
        if self.report_problem:
            self.notes.append(self.report_problem)

    def _note(self, listener: EventListener, message: str) -> None:
        self.notes.append(message)
        listener.publish(events.Log(level="warning", message=message, source="runner"))

    def _run_layers(
        self, ctx: LayerContext, result: RunResult, baseline: RunResult | None
    ) -> list[LayerRun]:
        layer_runs: list[LayerRun] = []
        index = {layer.layer: i for i, layer in enumerate(result.layers)}
        for group in _groups(self.plans):
            if self._stop.is_set():
                self._skip(result, group, "not run: the run was stopped")
                continue
            why = self._reason_to_skip(result)
            if why:
                self._skip(result, group, why)
                continue
            try:
                finished = _run_group(group, ctx)
            except KeyboardInterrupt:
                # Ctrl-C or SIGTERM: the group's processes are already killed;
                # stop, but still write the reports of what ran, with the tests
                # each layer finished before the interrupt (the live events).
                self._stop.set()
                for p in group:
                    layer = result.layer(p.name)
                    if layer is not None:
                        layer.tests = ctx.live.finished_tests(p.name)
                        layer.outcome = "stopped"
                        layer.reason = f"interrupted after {len(layer.tests)} test(s)"
                continue
            for lr in finished:
                result.layers[index[lr.result.layer]] = lr.result
            layer_runs += finished
            self._check_aborts(result, baseline, [lr.result.layer for lr in finished])
        return layer_runs

    def _reason_to_skip(self, result: RunResult) -> str:
        aborted = [g for g in result.gates if g.status == "failed" and g.abort_on_fail]
        if aborted:
            return f"not run: gate {aborted[0].name} failed and aborts the run"
        if self.keep_going:
            return ""
        for layer in result.layers:
            if layer.required and layer.outcome not in ("passed", "not-run"):
                return f"not run: required layer {layer.layer} {layer.outcome}"
        return ""

    def _check_aborts(
        self, result: RunResult, baseline: RunResult | None, layers: list[str]
    ) -> None:
        gates = [g for g in self.gates if g.abort_on_fail and plan.gate_layer(g.metric) in layers]
        verdicts = verdict.evaluate_gates(gates, result, baseline)
        # Kept on the result only until the final evaluation replaces them.
        result.gates = [*result.gates, *verdicts]

    @staticmethod
    def _skip(
        result: RunResult, group: list[LayerPlan], reason: str, outcome: str = "not-run"
    ) -> None:
        for p in group:
            layer = result.layer(p.name)
            if layer is not None:
                layer.outcome, layer.reason = outcome, reason


def _has_coverage(layer: LayerResult | None) -> bool:
    return layer is not None and any(m.name == "coverage.percent" for m in layer.metrics)


def _groups(plans: list[LayerPlan]) -> list[list[LayerPlan]]:
    """Consecutive layers marked ``parallel`` run together; the rest one at a time."""
    groups: list[list[LayerPlan]] = []
    for p in plans:
        if p.settings.parallel and groups and groups[-1][-1].settings.parallel:
            groups[-1].append(p)
        else:
            groups.append([p])
    return groups


def _run_group(group: list[LayerPlan], ctx: LayerContext) -> list[LayerRun]:
    if len(group) == 1:
        return [LayerRunner(group[0], ctx).run()]
    results: dict[str, LayerRun] = {}
    errors: list[BaseException] = []

    def work(p: LayerPlan) -> None:
        try:
            results[p.name] = LayerRunner(p, ctx).run()
        except BaseException as e:  # re-raised in the calling thread below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(p,), name=f"layer-{p.name}") for p in group]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException:
        ctx.stop.set()
        for t in threads:
            t.join()
        raise
    if errors:
        raise errors[0]
    return [results[p.name] for p in group]
