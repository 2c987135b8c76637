"""distlab's pytest plugin (registered through the ``pytest11`` entry point).

It registers the layer markers, loads the fixture modules, and sends live
events (collection, test start, test end, metrics) out of the pytest process
to ``DISTLAB_EVENTS``. pytest-json-report cannot stream -- it writes only at
session end -- so the live feed is our own hooks; the JSON report stays the
final word, and this plugin adds the metrics and the seed to it.

Fixtures live one area per module in ``distlab.fixtures``; pytest loads the
modules listed here as plugins of their own.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

from distlab import checks, events
from distlab.env import LAYER_ENV, SEED_ENV
from distlab.seeds import new_root_seed

pytest_plugins: list[str] = [
    "distlab.fixtures.metric",
    "distlab.fixtures.run",
    "distlab.fixtures.config",
    "distlab.fixtures.pg",
    "distlab.fixtures.cluster",
    "distlab.fixtures.workload",
    "distlab.fixtures.nemesis",
]

# The user property that marks a test which hit a LabError.
LAB_ERROR_PROPERTY = "distlab_lab_error"
# ``checker=verdict`` strings of the checks a test announced (distlab.checks).
VERDICTS_PROPERTY = "distlab_verdicts"

MARKERS = {
    "unit": "fast tests of one piece, no processes or sockets",
    "concurrency": "threads, asyncio and processes racing on one machine",
    "distributed": "a cluster of real node processes",
    "chaos": "faults injected into a running cluster",
    "performance": "throughput and latency measured and recorded as metrics",
    "slow": "takes long; deselect with -m 'not slow'",
}

# A failure report longer than this is cut: the event is for a live view and
# the JSON report keeps the whole text.
_MAX_TEXT = 16_000


def _cut(text: str) -> str:
    if len(text) <= _MAX_TEXT:
        return text
    return text[: _MAX_TEXT // 2] + "\n... (cut) ...\n" + text[-_MAX_TEXT // 2 :]


class LiveEvents:
    """Turns pytest's hooks into distlab events; one instance per session."""

    def __init__(self, layer: str) -> None:
        self.layer = layer
        self.collect_errors: list[dict[str, str]] = []
        self.metrics: list[dict[str, Any]] = []
        # Per test: the worst phase report seen so far (setup/call/teardown).
        self._phases: dict[str, list[pytest.TestReport]] = {}
        self._lab_errors: dict[str, str] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(
                {"nodeid": report.nodeid, "message": _cut(str(report.longrepr))}
            )

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not events.sink().enabled:
            return
        tests = []
        for item in session.items:
            path, line, _ = item.location
            tests.append(
                events.CollectedTest(
                    nodeid=item.nodeid,
                    file=path,
                    line=None if line is None else line + 1,
                    markers=tuple(sorted({m.name for m in item.iter_markers()})),
                )
            )
        errors = tuple(events.CollectError(**e) for e in self.collect_errors)
        events.emit(
            events.Collect(
                layer=self.layer,
                tests=tuple(tests),
                errors=errors,
                rootdir=str(session.config.rootpath),
            )
        )

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self._phases[nodeid] = []
        checks.begin_test(nodeid)
        events.emit(events.TestStart(layer=self.layer, nodeid=nodeid))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
        # A LabError (a node that cannot start, a port clash) means the lab
        # broke, not the system under test: the runner exits 3 for it. Put on
        # the item before the report is made so the JSON report carries it.
        if call.excinfo is not None and _is_lab_error(call.excinfo.value):
            self._lab_errors[item.nodeid] = str(call.excinfo.value)
            item.user_properties.append((LAB_ERROR_PROPERTY, str(call.excinfo.value)))
        if call.when == "call":
            verdicts = checks.verdicts_so_far(item.nodeid)
            if verdicts:
                item.user_properties.append((VERDICTS_PROPERTY, verdicts))
        yield

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._phases.setdefault(report.nodeid, []).append(report)

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        reports = self._phases.pop(nodeid, [])
        checks.end_test(nodeid)
        if not events.sink().enabled:
            return
        path, line, _ = location
        events.emit(
            events.TestEnd(
                layer=self.layer,
                nodeid=nodeid,
                file=path,
                line=None if line is None else line + 1,
                lab_error=self._lab_errors.pop(nodeid, ""),
                **summarize(reports),
            )
        )

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_runtest_metadata(
        self, item: pytest.Item, call: pytest.CallInfo[Any]
    ) -> dict[str, Any] | None:
        if call.when != "setup":
            return None
        return {"markers": sorted({m.name for m in item.iter_markers()})}

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict[str, Any]) -> None:
        json_report["distlab"] = {
            "layer": self.layer,
            "seed": os.environ.get(SEED_ENV),
            "metrics": self.metrics,
            # The runner omits pytest-json-report's "collectors" (an entry per
            # test: slow with thousands) and reads collection errors from here.
            "collect_errors": self.collect_errors,
        }


def summarize(reports: list[pytest.TestReport]) -> dict[str, Any]:
    """One test's outcome from its phase reports, as ``test.end`` fields."""
    duration = sum(r.duration for r in reports)
    outcome, bad = "passed", None
    for r in reports:
        xfail = getattr(r, "wasxfail", None)
        if r.when == "call" and xfail is not None:
            outcome = "xfailed" if r.skipped else "xpassed"
            continue
        if r.failed:
            outcome, bad = ("failed" if r.when == "call" else "error"), r
            break
        if r.skipped:
            outcome, bad = "skipped", r
    fields: dict[str, Any] = {"outcome": outcome, "duration_s": duration}
    if bad is None:
        return fields
    if outcome == "skipped":
        fields["message"] = _skip_reason(bad)
        return fields
    crash = getattr(bad.longrepr, "reprcrash", None)
    if crash is not None:
        fields["message"] = crash.message
    else:
        lines = str(bad.longrepr).strip().splitlines()
        fields["message"] = lines[-1] if lines else ""
    fields["longrepr"] = _cut(str(bad.longrepr))
    fields["stdout"] = _cut(bad.capstdout)
    fields["stderr"] = _cut(bad.capstderr)
    return fields


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    _seed_hypothesis(item.config)
    yield


def _seed_hypothesis(config: pytest.Config) -> None:
    """Give hypothesis the run's root seed, unless ``--hypothesis-seed`` chose one.

    Done lazily, once a test module has imported hypothesis: passing
    ``--hypothesis-seed`` would import hypothesis into every pytest process
    (over a second of start-up) whether a layer uses it or not.
    """
    core = sys.modules.get("hypothesis.core")
    if core is None or getattr(core, "global_force_seed", 0) is not None:
        return
    try:
        if config.getoption("hypothesis_seed") is not None:
            return
    except ValueError:  # hypothesis's pytest plugin is disabled
        pass
    setattr(core, "global_force_seed", int(os.environ[SEED_ENV]))  # noqa: B010 - a module attribute


def _undo_hypothesis_ci_derandomize() -> None:
    """Keep the root seed in charge of hypothesis on CI machines too.

    On a CI machine hypothesis loads its built-in "ci" profile, whose
    ``derandomize=True`` seeds every test from its own name and so ignores the
    root seed: ``--seed`` would replay nothing. We load the same profile with
    derandomize off, before any test module is imported (a ``@settings``
    decorator captures the profile in force when it runs). Only in CI, where
    hypothesis is being imported anyway, so other runs pay no import.
    """
    if not any(os.environ.get(v) for v in ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE")):
        return
    from hypothesis import settings

    if getattr(settings, "_current_profile", None) != "ci":
        return  # the user chose a profile: theirs wins
    settings.register_profile(
        "distlab-ci", settings.get_profile("ci"), derandomize=False, database=None
    )
    settings.load_profile("distlab-ci")


def _is_lab_error(exc: BaseException) -> bool:
    from distlab.errors import LabError

    return isinstance(exc, LabError)


_LIVE = pytest.StashKey[LiveEvents]()


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    # Outside the runner a run still gets one root seed, shown in the header,
    # so a failure can be replayed with DISTLAB_SEED=N.
    if not os.environ.get(SEED_ENV):
        os.environ[SEED_ENV] = str(new_root_seed())
    _undo_hypothesis_ci_derandomize()
    live = LiveEvents(os.environ.get(LAYER_ENV, ""))
    config.stash[_LIVE] = live
    config.pluginmanager.register(live, "distlab-live-events")


def pytest_report_header(config: pytest.Config) -> str:
    return f"distlab seed: {os.environ.get(SEED_ENV)} (replay with {SEED_ENV}=...)"


def live_events(config: pytest.Config) -> LiveEvents:
    """The session's event producer (the ``metric`` fixture appends to it)."""
    return config.stash[_LIVE]
