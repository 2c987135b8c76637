"""The dashboard shell: tabs, keys, the event pump, and commands to the back end.

Events arrive on any thread through ``EventFeed.push``; every ~0.1 s the
app drains the feed, folds the batch into ``LabState`` and redraws only what
the state marks dirty, inside one ``batch_update``. The app never starts a
process itself: it asks its ``Backend``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, TabbedContent, TabPane

from distlab.lab.controls import LabControls
from distlab.tui.backend import Backend
from distlab.tui.collector import QuietCollector
from distlab.tui.components.failure_screen import FailureScreen
from distlab.tui.components.fault_timeline import FaultTimeline
from distlab.tui.components.gates_panel import GatesTable, VerdictBanner
from distlab.tui.components.help_screen import HelpScreen
from distlab.tui.components.layer_progress import LayerProgress
from distlab.tui.components.node_table import NodeTable
from distlab.tui.components.partition_menu import PartitionMenu
from distlab.tui.components.partition_view import PartitionView
from distlab.tui.components.run_bar import RunBar
from distlab.tui.components.suites_tree import SuitesTree
from distlab.tui.components.test_detail import TestDetail
from distlab.tui.components.throughput import ThroughputPanel
from distlab.tui.feed import EventFeed
from distlab.tui.messages import BackendNotice, EventsPending, TestActivated, TestHighlighted
from distlab.tui.state import FAILING, LabState, TestInfo

FLUSH_EVERY_S = 0.1
APPLY_BUDGET_S = 0.04  # per flush, folding events into the state
APPLY_SLICE = 2000
WIDE_COLUMNS = 120  # from here on, panels sit side by side
LAB_ACTIONS = frozenset({"kill", "pause", "restart", "partition", "latency", "heal"})
RUN_ACTIONS = frozenset({"run_all", "run_selected", "rerun_failed"})
SUITE_ACTIONS = frozenset({"filter", "open_editor"})  # about tests: not in a lab session


def _b(
    key: str,
    action: str,
    description: str,
    tooltip: str,
    *,
    show: bool = True,
    priority: bool = False,
) -> Binding:
    """A binding with an id (for keymaps) and a tooltip (for the footer)."""
    return Binding(
        key,
        action,
        description,
        show=show,
        priority=priority,
        id=f"distlab.{action}",
        tooltip=tooltip,
    )


class DistlabApp(App[int]):
    """The distlab dashboard."""

    CSS_PATH = "styles/app.tcss"
    TITLE = "distlab"
    # The screen gets -narrow or -wide by terminal width; the .tcss lays out by it.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE_COLUMNS, "-wide")]
    BINDINGS = [
        _b("k", "kill", "Kill", "SIGKILL the selected node"),
        _b("p", "pause", "Pause", "SIGSTOP the selected node, or SIGCONT it if paused"),
        _b("r", "restart", "Restart", "Restart the selected node and wait until healthy"),
        _b("n", "partition", "Partition", "Cut the network into a named shape"),
        _b("l", "latency", "Latency", "Add 100 ms latency to every peer link"),
        _b("h", "heal", "Heal", "Heal every link and resume paused nodes"),
        _b("a", "run_all", "Run all", "Run every layer in config.toml"),
        _b("f", "rerun_failed", "Rerun failed", "Rerun the failed tests in a fresh pytest"),
        _b("s", "stop", "Stop", "Stop the run: its pytest processes are killed"),
        _b("slash", "filter", "Filter", "Filter tests by name, outcome:X, marker:X or layer:X"),
        _b(
            "o",
            "open_editor",
            "Editor",
            "Open the selected test in $EDITOR at its line",
            show=False,
        ),
        _b("1", "show_tab('suites')", "Suites", "Layers, tests, failures", show=False),
        _b("2", "show_tab('cluster')", "Cluster", "Nodes, partitions, faults", show=False),
        _b("3", "show_tab('throughput')", "Throughput", "Ops/s, latency, errors", show=False),
        _b("4", "show_tab('gates')", "Gates", "Gates and the release verdict", show=False),
        _b("question_mark", "help", "Help", "Every key and what it does"),
        _b("q", "quit", "Quit", "Quit; stops the run and the cluster cleanly"),
    ]

    def __init__(
        self,
        backend: Backend,
        *,
        title: str = "",
        feed: EventFeed | None = None,
        live_clock: bool = False,
        initial_tab: str = "suites",
    ) -> None:
        super().__init__()
        if self.console.color_system == "standard" and not self.no_color:
            # On 16 colours Textual's round trip of ANSI names through its theme's
            # truecolor does not come back: a failure's "bold red" drew magenta, a
            # flaky test's "yellow" bright red (tmux, TERM=screen). The names are
            # what such a terminal shows best: pass them through to its palette.
            # Not with NO_COLOR: its monochrome filter, chosen before this line,
            # turns ANSI names into black on black.
            self.ansi_color = True
        self.backend = backend
        self.state = LabState()
        self.feed = feed or EventFeed()
        self.run_title = title or backend.name
        self.live_clock = live_clock
        self.initial_tab = initial_tab
        self.filter_text = ""
        self.stats = {"batches": 0, "applied": 0, "worst_flush_s": 0.0, "worst_lag_s": 0.0}
        self._selected: str | None = None
        self._logs_shown = 0
        self.started = threading.Event()  # the back end has been started
        self._last_flush = 0.0
        self._beat_at = 0.0
        self._pump_timers: list[Timer] = []
        self._pump_stopped = False
        self._collector = QuietCollector()  # no full GC walk of Textual's heap mid-frame

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        s = self.state
        yield RunBar(s, self.run_title, id="run-bar")
        with TabbedContent(initial=self.initial_tab, id="tabs"):
            with TabPane("Suites", id="suites"), Horizontal(id="suites-pane"):
                with Vertical(id="suites-left"):
                    yield LayerProgress(s, id="layer-progress")
                    yield Input(
                        placeholder="filter: words, outcome:failed, marker:chaos, layer:unit",
                        id="filter",
                    )
                    yield SuitesTree(s, id="suites-tree")
                yield TestDetail(id="test-detail")
            with TabPane("Cluster", id="cluster"), Vertical(id="cluster-pane"):
                yield ThroughputPanel(s, compact=True, id="cluster-throughput")
                yield NodeTable(s, id="node-table")
                with Horizontal(id="network-pane"):
                    yield PartitionView(s, id="partition-view")
                    yield FaultTimeline(s, id="fault-timeline")
            with TabPane("Throughput", id="throughput"), VerticalScroll(id="throughput-pane"):
                yield ThroughputPanel(s, id="throughput-panel")
                yield FaultTimeline(s, id="throughput-faults")
            with TabPane("Gates", id="gates"), Vertical(id="gates-pane"):
                yield VerdictBanner(s, id="verdict")
                yield GatesTable(s, id="gates-table")
        # No "^p palette" in the footer: at 80 columns it pushed `q Quit` off the
        # line; `?` lists ctrl+p with every other key.
        yield Footer(compact=True, show_command_palette=False)

    @property
    def main(self) -> Screen[Any]:
        """The dashboard's own screen: help, the failure view and menus sit above it,
        and the panels must be found there while they do."""
        return self.screen_stack[0]

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        if self.initial_tab == "suites":
            self.query_one(SuitesTree).focus()
        elif self.initial_tab == "cluster":
            self.query_one(NodeTable).focus()
        # Events only after the first layout: a panel filled before it had a size was
        # sometimes measured as empty and stayed so (seen as flaky snapshots).
        self.call_after_refresh(self._start_feed)

    def _start_feed(self) -> None:
        def wake() -> None:
            self.post_message(EventsPending())

        if self._pump_stopped:
            return  # quit before the first frame
        self.feed.connect(wake)
        self._collector.hold()
        self._pump_timers.append(self.set_interval(FLUSH_EVERY_S, self.flush))
        self._beat_at = time.perf_counter()
        self._pump_timers.append(self.set_interval(0.05, self._heartbeat))
        self._refresh_all()
        self.backend.start(self.feed)
        self.started.set()

    # -- the event pump ------------------------------------------------------------------

    def exit(self, result: int | None = None, return_code: int = 0, message: Any = None) -> None:
        """Stop the event pump, then leave: a flush that fired while Textual takes the
        screens down found no widgets (``NoMatches`` in ``_redraw``), crashing the exit."""
        self.stop_pump()
        super().exit(result, return_code, message)

    def stop_pump(self) -> None:
        """No more flushes or redraws; events still arriving stay in the feed."""
        self._pump_stopped = True
        self.feed.connect(_ignore)
        for timer in self._pump_timers:
            timer.stop()
        self._pump_timers.clear()
        self._collector.release()

    def on_unmount(self) -> None:
        self.stop_pump()  # every way out (a lost driver too), not only exit()

    def on_events_pending(self, _: EventsPending) -> None:
        # A burst right after a quiet spell shows at once; steady streams ride the interval.
        if time.perf_counter() - self._last_flush >= FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """Fold waiting events into the state and redraw what changed."""
        # Not running: Textual's _shutdown (also what run_test does on leaving) clears
        # that flag first and only then takes the screens down, awaiting as it goes.
        if self._pump_stopped or not self.is_running:
            return
        if self.live_clock and self.backend.busy():
            self.state.now = max(self.state.now, time.time())
            self.state.dirty.add("clock")
        if not len(self.feed) and not self.state.dirty:
            return
        started = time.perf_counter()
        applied = 0
        # Apply for at most APPLY_BUDGET_S, then draw: a flood of events must not
        # keep keys and redraws waiting. What is left waits for the next tick, so
        # the event loop is free more than half of every interval.
        while time.perf_counter() - started < APPLY_BUDGET_S:
            batch = self.feed.drain(APPLY_SLICE)
            if not batch:
                break
            for event in batch:
                self.state.apply(event)
            applied += len(batch)
        areas, tests, nodes = self.state.take_dirty()
        if not self.screen_stack or self._closing:
            return  # shutting down: nothing left to draw on
        with self.batch_update():
            self._redraw(areas, tests, nodes)
        took = time.perf_counter() - started
        self._last_flush = time.perf_counter()
        self.stats["batches"] += 1
        self.stats["applied"] += applied
        self.stats["worst_flush_s"] = max(self.stats["worst_flush_s"], took)

    def _heartbeat(self) -> None:
        # How late the event loop runs a 50 ms timer: the worst frame delay users feel.
        now = time.perf_counter()
        self.stats["worst_lag_s"] = max(self.stats["worst_lag_s"], now - self._beat_at - 0.05)
        self._beat_at = now

    def _redraw(self, areas: set[str], tests: set[str], nodes: set[str]) -> None:
        tree = self.main.query_one(SuitesTree)
        if (areas & {"tree", "layers"} or tests) and tree.sync(tests):
            self.state.dirty.add("tree")  # more tests wait for their nodes
        if "layers" in areas or "clock" in areas or "run" in areas:
            tree.refresh_layers()
            self.main.query_one(LayerProgress).refresh_from_state()
        self.main.query_one(RunBar).refresh_from_state()
        if self._selected is not None and self._selected in tests:
            self.main.query_one(TestDetail).show(self.state.tests.get(self._selected))
        elif self._selected is None and (tests or "run" in areas):
            self.main.query_one(TestDetail).show_failures(self.state.failures())
        if nodes or "nodes" in areas or "clock" in areas:
            self.main.query_one(NodeTable).refresh_nodes(nodes, clock_moved=True)
        if "logs" in areas:
            self._show_problems()
        if areas & {"network", "nodes"}:
            self.main.query_one(PartitionView).refresh_from_state()
        if "faults" in areas or "run" in areas:
            for timeline in self.main.query(FaultTimeline):
                timeline.refresh_from_state()
        if areas & {"throughput", "checks", "faults"}:
            for panel in self.main.query(ThroughputPanel):
                panel.refresh_from_state()
        if areas & {"gates", "run"}:
            self.main.query_one(VerdictBanner).refresh_from_state()
            self.main.query_one(GatesTable).refresh_from_state()

    def _show_problems(self) -> None:
        # Warnings and errors (a lab that cannot start, a report not written) as toasts.
        new = min(self.state.logs_total - self._logs_shown, len(self.state.logs))
        problems = [
            (level, message)
            for _ts, level, message in list(self.state.logs)[len(self.state.logs) - new :]
            if level in ("warning", "error")
        ]
        self._logs_shown = self.state.logs_total
        if not problems:
            return
        # One toast per batch, not one per warning: a burst of them stacked over the
        # fault timeline for seconds. The newest is shown, with how many came with it.
        level, message = problems[-1]
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        self.notify(message + more, severity="error" if level == "error" else "warning", timeout=5)

    def _refresh_all(self) -> None:
        self.state.dirty.update(
            {"tree", "layers", "nodes", "network", "faults", "throughput", "gates", "run"}
        )
        self.flush()

    def flush_now(self) -> None:
        """Apply and draw everything waiting now (tests and benchmarks).

        One ``flush`` stops at its time budget and the tree adds a bounded
        number of nodes per flush, so under load a single call could leave the
        last events (the gates, the run's end) undrawn: flush until nothing waits.
        """
        for _ in range(100_000):
            if self._pump_stopped:
                return
            self.flush()
            if not len(self.feed) and not (self.state.dirty - {"clock"}):
                return

    # -- selection -----------------------------------------------------------------------

    def on_test_highlighted(self, message: TestHighlighted) -> None:
        self._selected = message.nodeid
        detail = self.main.query_one(TestDetail)
        if message.nodeid is not None:
            detail.show(self.state.tests.get(message.nodeid))
        else:
            detail.show_failures(self.state.failures())

    def on_test_activated(self, message: TestActivated) -> None:
        test = self.state.tests.get(message.nodeid) if message.nodeid else None
        if test is not None and test.failing:
            self.push_screen(FailureScreen(test))
            return
        only = {message.layer: [message.target]} if message.target else None
        self._run(only=only, layers=[message.layer], what=message.target or message.layer)

    def selected_test(self) -> TestInfo | None:
        return self.state.tests.get(self._selected) if self._selected else None

    def on_backend_notice(self, message: BackendNotice) -> None:
        self.notify(message.text, severity=message.severity)

    # -- actions -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        lab = self.backend.controls is not None
        if action in LAB_ACTIONS:
            return lab  # False hides them outside lab mode
        if action in RUN_ACTIONS:
            return self.backend.runs_suites  # a replay or a lab session runs nothing
        if action == "stop":
            return self.backend.runs_suites or lab  # a replay has nothing to stop
        return not (action in SUITE_ACTIONS and lab)

    def _run(
        self, *, only: dict[str, list[str]] | None, layers: list[str] | None, what: str
    ) -> bool:
        """Ask the back end for a run; True if it accepted."""
        answer = self.backend.run(only=only, layers=layers)
        if answer:
            self.notify(answer, severity="warning")
            return False
        self.notify(f"running {what}")
        return True

    def action_run_all(self) -> None:
        # Clear the last run's outcomes only once the back end has accepted the new
        # one: a refusal (a replay, a run in progress) must leave the screen as it was.
        # The run's first events wait in the feed until the next flush, on this thread,
        # so they cannot be folded before the reset.
        if self._run(only=None, layers=None, what="all layers"):
            self.state.reset_outcomes()

    def action_run_selected(self) -> None:
        self.main.query_one(SuitesTree).action_activate()

    def action_rerun_failed(self) -> None:
        only: dict[str, list[str]] = {}
        for test in self.state.failures():
            only.setdefault(test.layer, []).append(test.nodeid)
        if not only:
            self.notify("no failed tests to rerun")
            return
        self._run(only=only, layers=list(only), what=f"{sum(map(len, only.values()))} failed tests")

    def action_stop(self) -> None:
        answer = self.backend.stop()
        if answer:
            self.notify(answer)

    def action_filter(self) -> None:
        self.action_show_tab("suites")
        box = self.main.query_one("#filter", Input)
        box.display = True
        box.value = self.filter_text
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "filter":
            return
        self.filter_text = event.value.strip()
        tree = self.main.query_one(SuitesTree)
        tree.set_filter(self.filter_text)
        event.input.display = bool(self.filter_text)
        tree.focus()
        shown = len(tree.shown_tests())
        first = tree.first_test() if self.filter_text else None
        if first is not None:
            # The rebuilt tree has no line numbers until it has been laid out.
            self.call_after_refresh(tree.select_test, first)
        self.notify(
            f"filter {self.filter_text!r}: {shown} tests" if self.filter_text else "filter cleared"
        )

    def action_show_tab(self, tab: str) -> None:
        self.main.query_one(TabbedContent).active = tab

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._focus_tab(event.pane.id or "")

    def _focus_tab(self, tab: str) -> None:
        # Keys act on what has focus: after a tab switch, Down must move the tree or
        # the node table, and k must hit the node under the (visible) cursor.
        if tab == "suites":
            self.main.query_one(SuitesTree).focus()
        elif tab == "cluster":
            table = self.main.query_one(NodeTable)
            table.focus()
            if table.row_count:
                table.move_cursor(row=table.cursor_row, scroll=True)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_open_editor(self) -> None:
        test = self.screen.test if isinstance(self.screen, FailureScreen) else self.selected_test()
        if test is None or not test.file:
            self.notify("select a test first", severity="warning")
            return
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            self.notify("set $EDITOR (or $VISUAL) to open tests", severity="warning")
            return
        line = _failing_line(test)
        path = Path(test.file)
        try:
            with self.suspend():
                subprocess.run([*shlex.split(editor), f"+{line}", str(path)], check=False)
        except Exception as e:  # SuspendNotSupported under `textual serve`, a missing editor
            self.notify(f"cannot open {path}: {e}", severity="error")

    async def action_quit(self) -> None:
        self.backend.stop()
        self.exit(0)

    # -- lab actions (the back end does the work on a thread) ------------------------------

    def _lab(self, call: Callable[[LabControls], str | None]) -> None:
        controls = self.backend.controls
        if controls is None:
            return  # check_action hides the lab keys then; a palette race lands here

        def work() -> None:
            answer = call(controls)
            if answer:
                self.post_message(BackendNotice(answer))

        self.run_worker(work, thread=True, group="lab", exit_on_error=False)

    def _node(self, doing: str) -> str | None:
        """The node under the node table's cursor, named in a toast at once (the
        answer follows when the lab has done it)."""
        if self.main.query_one(TabbedContent).active != "cluster":
            self.action_show_tab("cluster")
        table = self.main.query_one(NodeTable)
        node = table.selected_node()
        if node is None:
            self.notify("no node selected", severity="warning")
            return None
        self.notify(f"{doing} {node}…", timeout=3)
        return node

    def action_kill(self) -> None:
        if (node := self._node("killing")) is not None:
            self._lab(lambda lab: lab.kill(node))

    def action_pause(self) -> None:
        if (node := self._node("pausing/resuming")) is not None:
            self._lab(lambda lab: lab.pause_or_resume(node))

    def action_restart(self) -> None:
        if (node := self._node("restarting")) is not None:
            self._lab(lambda lab: lab.restart(node))

    def action_partition(self) -> None:
        if self.backend.controls is None:
            return

        def chosen(shape: str | None) -> None:
            self._focus_tab(self.main.query_one(TabbedContent).active)
            if shape:
                self._lab(lambda lab: lab.partition(shape))

        self.push_screen(PartitionMenu(self.backend.controls.shapes()), chosen)

    def action_latency(self) -> None:
        self._lab(lambda lab: lab.latency(100))

    def action_heal(self) -> None:
        self._lab(lambda lab: lab.heal())

    # -- command palette -----------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            name = binding.action.split("(")[0]
            if not self.check_action(name, ()):
                continue
            yield SystemCommand(binding.description, binding.tooltip, _runner(self, binding.action))
        yield from super().get_system_commands(screen)


def _ignore() -> None:
    """A feed's wake-up once the app has stopped listening."""


def _runner(app: App[Any], action: str) -> Callable[[], Any]:
    async def run() -> None:
        await app.run_action(action)

    return run


def _failing_line(test: TestInfo) -> int:
    """The line to open: the last ``file:N:`` of the test's own file in the traceback,
    else the test's definition."""
    line = test.line or 1
    if test.longrepr and test.file:
        for text in test.longrepr.splitlines():
            head, sep, rest = text.partition(f"{test.file}:")
            if sep and not head.strip():
                number = rest.split(":", 1)[0]
                if number.isdigit():
                    line = int(number)
    return line


__all__ = ["FAILING", "DistlabApp"]
