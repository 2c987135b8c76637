"""The dashboard driven by keys through Textual's Pilot at 80x24, fed recorded events.

Keys that act go to a back end; ``Recorder`` is the app's own back-end
protocol (and, in lab mode, its ``LabControls``), recording the commands so
each key's effect is checked exactly.
The real back ends are exercised in test_tui_live.py.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.widgets import Input, TabbedContent
from tui_helpers import DATA, pilot_test, replay_app, select_test, settle

from distlab.events import GateResult, NodeRole, RunEnd, TestEnd
from distlab.tui.app import DistlabApp, _failing_line
from distlab.tui.backend import ReplayBackend
from distlab.tui.components.failure_screen import FailureScreen
from distlab.tui.components.gates_panel import GatesTable, VerdictBanner
from distlab.tui.components.help_screen import HelpScreen
from distlab.tui.components.node_table import NodeTable
from distlab.tui.components.partition_menu import PartitionMenu
from distlab.tui.components.suites_tree import SuitesTree
from distlab.tui.components.test_detail import TestDetail, render_test

SIZE = (80, 24)


class Recorder(ReplayBackend):
    """A replay that also records the commands the app sends."""

    def __init__(self, name: str, lab: bool = False) -> None:
        super().__init__(DATA / f"events_{name}.jsonl")
        self.runs_suites = not lab  # stands for the runner, or for a lab session
        self.controls = self if lab else None
        self.calls: list[tuple[Any, ...]] = []

    def run(self, only: Any = None, layers: Any = None) -> str | None:
        self.calls.append(("run", only, layers))
        return None

    def stop(self) -> str | None:
        self.calls.append(("stop",))
        return None

    def kill(self, node: str) -> str | None:
        self.calls.append(("kill", node))
        return None

    def pause_or_resume(self, node: str) -> str | None:
        self.calls.append(("pause", node))
        return None

    def restart(self, node: str) -> str | None:
        self.calls.append(("restart", node))
        return None

    def shapes(self) -> list[str]:
        return ["halves", "isolate", "majority_minority"]

    def partition(self, shape: str) -> str | None:
        self.calls.append(("partition", shape))
        return None

    def latency(self, ms: float) -> str | None:
        self.calls.append(("latency", ms))
        return None

    def heal(self) -> str | None:
        self.calls.append(("heal",))
        return None


def plain(renderable: Any) -> str:
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(renderable)
    return out.getvalue()


def detail_text(app: DistlabApp) -> str:
    test = app.query_one(TestDetail).test
    return "" if test is None else test.nodeid


async def first_failure(app: DistlabApp, pilot: Any) -> str:
    """Move the tree cursor to the first failed test and return its id."""
    failure = app.state.failures()[0]
    await select_test(app, pilot, failure.nodeid)
    return failure.nodeid


@pilot_test
async def test_replay_fills_suites_and_selecting_a_failure_shows_its_traceback() -> None:
    app = replay_app("finished")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        tree = app.query_one(SuitesTree)
        assert len(tree.shown_tests()) == 30
        nodeid = await first_failure(app, pilot)
        assert detail_text(app) == nodeid
        text = plain(render_test(app.query_one(TestDetail).test))
        assert "✗ FAILED" in text and "traceback" in text and "captured stdout" in text
        assert "E       AssertionError: history is not linearizable" in text


@pilot_test
async def test_enter_on_a_failure_opens_it_full_screen_and_escape_returns() -> None:
    app = replay_app("finished")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        nodeid = await first_failure(app, pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, FailureScreen) and app.screen.test.nodeid == nodeid
        await pilot.press("escape")
        assert not isinstance(app.screen, FailureScreen)


@pilot_test
async def test_enter_on_a_passing_test_runs_it_and_on_a_layer_runs_the_layer() -> None:
    backend = Recorder("finished")
    app = DistlabApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        tree = app.query_one(SuitesTree)
        tree.move_cursor(tree._layers["unit"])
        await pilot.press("enter")
        passing = next(t for t in app.state.tests.values() if t.outcome == "passed")
        await select_test(app, pilot, passing.nodeid)
        await pilot.press("enter")
    assert backend.calls == [
        ("run", None, ["unit"]),
        ("run", {passing.layer: [passing.nodeid]}, [passing.layer]),
    ]


@pilot_test
async def test_a_f_and_s_run_all_rerun_exactly_the_failed_and_stop() -> None:
    backend = Recorder("finished")
    app = DistlabApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        failed = {}
        for t in app.state.failures():
            failed.setdefault(t.layer, []).append(t.nodeid)
        await pilot.press("f")
        await pilot.press("s")
        await pilot.press("a")
        assert app.state.counts()["pending"] == 30  # a fresh full run starts from pending
    assert backend.calls == [("run", failed, list(failed)), ("stop",), ("run", None, None)]


@pilot_test
async def test_slash_filters_the_tree_and_an_empty_filter_restores_it() -> None:
    app = replay_app("finished")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash")
        box = app.query_one("#filter", Input)
        assert box.display and box.has_focus
        await pilot.press(*"outcome:failed", "enter")
        tree = app.query_one(SuitesTree)
        assert sorted(tree.shown_tests()) == sorted(t.nodeid for t in app.state.failures())
        await pilot.press("slash")
        box.value = ""
        await pilot.press("enter")
        assert len(tree.shown_tests()) == 30 and not box.display


@pilot_test
async def test_number_keys_switch_tabs_and_each_tab_shows_its_data() -> None:
    app = replay_app("partitioned")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        tabs = app.query_one(TabbedContent)
        for key, tab in (("2", "cluster"), ("3", "throughput"), ("4", "gates"), ("1", "suites")):
            await pilot.press(key)
            assert tabs.active == tab
        table = app.query_one(NodeTable)
        assert table.row_count == 5
        assert str(table.get_cell("n5", "state")) == "crashed SIGKILL"


@pilot_test
async def test_node_table_updates_only_changed_cells_under_stable_row_keys() -> None:
    app = replay_app("partitioned")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.query_one(NodeTable)
        updated: list[tuple[str, str]] = []
        original = table.update_cell

        def spy(row: Any, column: Any, value: Any, **kw: Any) -> None:
            updated.append((row, column))
            original(row, column, value, **kw)

        table.update_cell = spy  # type: ignore[method-assign]
        app.feed.push(NodeRole(ts=app.state.now, node="n2", role="leader", term=4))
        app.flush_now()
        await pilot.pause()
        assert sorted(updated) == [("n2", "role"), ("n2", "term")]
        assert [k.value for k in table.rows] == ["n1", "n2", "n3", "n4", "n5"]


@pilot_test
async def test_gates_tab_shows_each_gate_and_a_failed_verdict() -> None:
    app = replay_app("finished")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("4")
        table = app.query_one(GatesTable)
        assert table.row_count == 4
        assert str(table.get_cell("performance.kv_write.p95_ms", "result")) == "FAIL"
        assert str(table.get_cell("unit.pass_rate", "result")) == "PASS"
        banner = app.query_one(VerdictBanner)
        assert banner.has_class("-fail") and "RELEASE: FAIL" in str(banner.render())


@pilot_test
async def test_a_stopped_run_shows_unjudged_gates_as_not_evaluated_never_pass() -> None:
    app = replay_app("running")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        now = app.state.now
        for name, state, why in (
            ("unit.pass_rate == 1", "not-evaluated", "not evaluated: partial, ..."),
            ("chaos.pass_rate == 1", "not-evaluated", "not evaluated: layer 'chaos' did not run"),
            ("perf.p99 < 5", "not-selected", "not selected: layer 'perf' was left out"),
        ):
            app.feed.push(
                GateResult(ts=now, name=name, passed=False, status=state, explanation=why)
            )
        app.feed.push(RunEnd(ts=now + 1, verdict="stopped", exit_code=130, reason="stopped"))
        app.flush_now()
        await pilot.press("4")
        await pilot.pause()
        table = app.query_one(GatesTable)
        assert [str(table.get_cell(n, "result")) for n in app.state.gates] == [
            "N/E",
            "N/E",
            "unsel",
        ]
        banner = app.query_one(VerdictBanner)
        assert "RELEASE: STOPPED  (2 of 3 gates not evaluated)" in str(banner.render())
        assert not banner.has_class("-pass")


@pilot_test
async def test_question_mark_opens_help_and_escape_closes_it() -> None:
    app = replay_app("idle")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


@pilot_test
async def test_q_quits_and_stops_the_back_end() -> None:
    backend = Recorder("finished")
    app = DistlabApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0 and ("stop",) in backend.calls


@pilot_test
async def test_o_names_the_failing_line_and_says_when_it_cannot_suspend(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Pilot's headless driver cannot suspend, so the editor must not run and the user
    # is told why; the real suspend is driven in a terminal in test_tui_live.py.
    log = tmp_path / "argv"
    editor = tmp_path / "editor.sh"
    editor.write_text(f'#!/bin/sh\necho "$@" > {log}\n')
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.delenv("VISUAL", raising=False)
    app = replay_app("finished")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        nodeid = await first_failure(app, pilot)
        test = app.state.tests[nodeid]
        await pilot.press("o")
        await pilot.pause()
        notes = [n.message for n in app._notifications]
    assert _failing_line(test) == (test.line or 0) + 6  # the assert in the traceback
    assert not log.exists()
    assert any(m.startswith(f"cannot open {test.file}") for m in notes), notes


@pilot_test
async def test_lab_keys_hidden_outside_lab_mode_and_sent_in_lab_mode() -> None:
    outside = Recorder("partitioned")
    app = DistlabApp(outside)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("2", "k", "h")
    assert not any(c[0] in ("kill", "heal") for c in outside.calls)

    backend = Recorder("partitioned", lab=True)
    app = DistlabApp(backend, initial_tab="cluster")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.query_one(NodeTable)
        table.focus()
        table.move_cursor(row=2)
        await pilot.press("k", "p", "r", "l", "h", "a")
        await pilot.press("n")
        assert isinstance(app.screen, PartitionMenu)
        await pilot.press("down", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert sorted(backend.calls, key=str) == sorted(
        [
            ("kill", "n3"),
            ("pause", "n3"),
            ("restart", "n3"),
            ("latency", 100),
            ("heal",),
            ("partition", "isolate"),
        ],
        key=str,
    )


@pilot_test
async def test_command_palette_lists_every_action() -> None:
    app = replay_app("idle")
    async with app.run_test(size=SIZE) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in (
            "Run all",
            "Rerun failed",
            "Stop",
            "Filter",
            "Help",
            "Quit",
            "Suites",
            "Gates",
        ):
            assert title in titles
        assert "Kill" not in titles  # lab actions only in lab mode
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CommandPalette"


def test_every_binding_has_an_id_and_a_tooltip() -> None:
    from distlab.tui.components.failure_screen import FailureScreen as F
    from distlab.tui.components.help_screen import HelpScreen as H
    from distlab.tui.components.partition_menu import PartitionMenu as P

    for owner in (DistlabApp, SuitesTree, F, H, P):
        for binding in owner.BINDINGS:
            assert binding.id and binding.tooltip, (owner.__name__, binding)  # type: ignore[union-attr]


@pilot_test
async def test_wide_terminal_puts_tree_and_detail_side_by_side() -> None:
    app = replay_app("finished")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        tree = app.query_one("#suites-left")
        detail = app.query_one(TestDetail)
        assert detail.region.x > tree.region.x and detail.region.y == tree.region.y
    app = replay_app("finished")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        tree = app.query_one("#suites-left")
        detail = app.query_one(TestDetail)
        assert detail.region.y > tree.region.y


@pilot_test
async def test_events_keep_flowing_while_help_or_a_failure_is_open() -> None:
    # Help and the failure view sit above the panels; events still reach the panels.
    app = replay_app("finished")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await first_failure(app, pilot)
        for key, screen in (("question_mark", HelpScreen), ("enter", FailureScreen)):
            await pilot.press(key)
            assert isinstance(app.screen, screen)
            app.feed.push(
                TestEnd(
                    ts=app.state.now,
                    layer="unit",
                    nodeid=next(iter(app.state.layers["unit"].tests)),
                    outcome="failed",
                )
            )
            app.flush_now()
            await pilot.pause()
            await pilot.press("escape")
        assert app.state.layers["unit"].tally["failed"] == 1
        assert "✗1" in str(app.query_one(SuitesTree)._layers["unit"].label)


def record_toasts(app: DistlabApp) -> list[str]:
    """Every toast's text from now on (toasts expire from the screen; this list does not)."""
    said: list[str] = []
    real = app.notify

    def notify(message: str, **options: Any) -> None:
        said.append(str(message))
        real(message, **options)

    app.notify = notify  # type: ignore[method-assign]
    return said


def footer_text(app: DistlabApp) -> str:
    from textual.widgets import Footer

    footer = app.main.query_one(Footer)
    return " ".join(
        f"{k.key_display or k.binding.key} {k.description}"
        for k in footer.query("FooterKey")
        if k.region.right <= app.size.width and k.region.width > 0  # type: ignore[attr-defined]
    )


@pilot_test
async def test_lab_focus_survives_the_partition_menu_and_tab_switches() -> None:
    backend = Recorder("partitioned", lab=True)
    app = DistlabApp(backend, initial_tab="cluster")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        toasts = record_toasts(app)
        table = app.query_one(NodeTable)
        assert app.focused is table
        await pilot.press("down")
        assert table.selected_node() == "n2"
        await pilot.press("n", "escape")  # the menu, closed without a choice
        assert app.focused is table
        await pilot.press("down")
        assert table.selected_node() == "n3"
        await pilot.press("n", "enter")  # the menu, a shape chosen
        await pilot.pause()
        assert app.focused is table
        await pilot.press("1", "2")  # away to Suites and back
        assert app.focused is table
        await pilot.press("up")
        assert table.selected_node() == "n2"
        # A key from another tab acts on the node the cluster tab shows, and says which.
        await pilot.press("1", "k")
        assert app.main.query_one(TabbedContent).active == "cluster"
        await app.workers.wait_for_complete()
        assert "killing n2…" in toasts
        await pilot.press("p", "r")
        await app.workers.wait_for_complete()
        assert "pausing/resuming n2…" in toasts and "restarting n2…" in toasts
    assert [c for c in backend.calls if c[0] in ("kill", "pause", "restart")] == [
        ("kill", "n2"),
        ("pause", "n2"),
        ("restart", "n2"),
    ]


@pilot_test
async def test_the_cursor_stays_on_its_node_when_rows_above_it_go() -> None:
    app = replay_app("partitioned", initial_tab="cluster")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.query_one(NodeTable)
        table.move_cursor(row=2)
        assert table.selected_node() == "n3"
        del app.state.nodes["n1"]  # as when a new cluster replaces the last one
        table.refresh_nodes(set(), clock_moved=True)
        assert table.selected_node() == "n3"


@pilot_test
async def test_at_80_columns_the_footer_keeps_q_quit_in_every_mode() -> None:
    for app in (
        DistlabApp(Recorder("partitioned", lab=True), initial_tab="cluster"),
        replay_app("finished"),
    ):
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            assert "q Quit" in footer_text(app), footer_text(app)


@pilot_test
async def test_a_in_a_replay_leaves_the_replay_as_it_was_and_the_footer_has_no_run_keys() -> None:
    app = replay_app("finished")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        toasts = record_toasts(app)
        before = (app.state.counts(), app.state.verdict, sorted(app.state.gates))
        assert before[0]["total"] > 0 and before[1] is not None
        footer = footer_text(app)
        assert "Run all" not in footer and "Rerun failed" not in footer, footer
        assert "Stop" not in footer and "Filter" in footer, footer
        await pilot.press("a")  # hidden: does nothing
        app.action_run_all()  # as if it got through anyway: the back end refuses
        await settle(app, pilot)
        assert (app.state.counts(), app.state.verdict, sorted(app.state.gates)) == before
        assert any("this is a replay" in t for t in toasts), toasts


@pilot_test
async def test_a_clears_the_last_run_only_when_the_back_end_accepts() -> None:
    backend = Recorder("finished")
    app = DistlabApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.state.verdict is not None
        await pilot.press("a")
        await pilot.pause()
        assert ("run", None, None) in backend.calls
        assert app.state.verdict is None and app.state.counts()["failed"] == 0


def test_eta_says_when_layers_are_left_out_and_shows_minutes() -> None:
    from distlab.tui.components.layer_progress import _eta

    assert _eta(3.89, 2) == "≥4s +2 layers"  # a floor, and what it leaves out
    assert _eta(3.89, 0) == "4s"
    assert _eta(125, 1) == "≥2m05s +1 layer"
    assert _eta(None, 3) == "-"


@pilot_test
async def test_a_burst_of_warnings_is_one_toast_not_a_stack() -> None:
    from distlab.events import Log

    app = replay_app("idle")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        toasts = record_toasts(app)
        for i in range(6):
            app.feed.push(Log(level="warning", source="test", message=f"warning {i}"))
        app.flush_now()
        await pilot.pause()
        assert toasts == ["warning 5 (+5 more)"]


@pilot_test
async def test_at_80_columns_the_run_bar_keeps_the_verdict_and_shortens_the_title() -> None:
    from distlab.tui.components.run_bar import RunBar

    app = replay_app("finished", title="replay 20261202-062749-597988229-a-long-run-directory")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        line = plain(app.query_one(RunBar).render()).strip()
        assert line.endswith("FAIL") and "…" in line, line
        assert len(line) <= 80
