"""The dashboard draws what can be seen. The Suites tree holds a node for every layer
and module and test leaves only under open modules: opened by the user, by a failure
or by a filter, a module shows its tests with their outcomes, as the whole tree used
to. Panels on a hidden tab draw when their tab is shown."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Tree
from tui_helpers import pilot_test, replay_app, settle

from distlab.event_types import CollectedTest
from distlab.events import Collect, Event, PartitionChanged, RunStart, TestEnd
from distlab.tui.components.fault_timeline import FaultTimeline
from distlab.tui.components.partition_view import PartitionView, render_partition
from distlab.tui.components.suites_tree import SuitesTree
from distlab.tui.components.throughput import ThroughputPanel
from distlab.tui.state import LabState


class TreeApp(App[None]):
    """The tree alone, over a state the test folds events into."""

    def __init__(self) -> None:
        super().__init__()
        self.state = LabState()

    def compose(self) -> ComposeResult:
        yield SuitesTree(self.state, id="tree")

    def fold(self, *events: Event, max_new: int = 10_000) -> bool:
        """Apply events and sync the tree once, as a flush does; True if nodes still wait."""
        for event in events:
            self.state.apply(event)
        _areas, tests, _nodes = self.state.take_dirty()
        return self.query_one(SuitesTree).sync(tests, max_new=max_new)


def module_of(layer: str, i: int) -> str:
    return f"suites/{layer}/test_m{i}.py"


def collect(layer: str, modules: int, per_module: int) -> Collect:
    tests = tuple(
        CollectedTest(nodeid=f"{module_of(layer, m)}::test_{t}", file=module_of(layer, m))
        for m in range(modules)
        for t in range(per_module)
    )
    return Collect(ts=1.0, layer=layer, tests=tests)


def end(nodeid: str, outcome: str) -> TestEnd:
    return TestEnd(ts=2.0, layer=nodeid.split("/")[1], nodeid=nodeid, outcome=outcome)


def module_node(tree: SuitesTree, layer: str, i: int) -> Any:
    return tree._modules[(layer, module_of(layer, i))]


def leaf_texts(node: Any) -> list[str]:
    return [str(child.label) for child in node.children]


def plain(renderable: Any) -> str:
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(renderable)
    return out.getvalue()


@pilot_test
async def test_folded_modules_hold_no_leaves_and_opening_one_shows_its_outcomes() -> None:
    app = TreeApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.fold(RunStart(ts=0.0, layers=("unit",)), collect("unit", 3, 4))
        first = f"{module_of('unit', 1)}::test_"
        app.fold(end(first + "0", "passed"), end(first + "1", "skipped"))
        tree = app.query_one(SuitesTree)
        module = module_node(tree, "unit", 1)
        assert not module.is_expanded and not module.children
        assert len(tree.shown_tests()) == 12
        assert "✓1" in str(module.label) and "s1" in str(module.label)  # counts, no leaves
        # The user opens it: the tree's cursor on the module, then space.
        tree.focus()
        await pilot.pause()  # laid out: the module has its line
        tree.move_cursor(module)
        await pilot.press("space")
        await pilot.pause()
        assert module.is_expanded
        texts = leaf_texts(module)
        assert len(texts) == 4
        assert texts[0].startswith("✓ test_0") and texts[1].startswith("s test_1")
        # Outcomes that arrive later relabel the open module's leaves.
        app.fold(end(first + "2", "passed"))
        assert leaf_texts(module)[2].startswith("✓ test_2")


@pilot_test
async def test_a_failure_opens_its_module_whether_it_came_before_or_after_the_node() -> None:
    app = TreeApp()
    async with app.run_test(size=(80, 24)):
        app.fold(RunStart(ts=0.0, layers=("unit",)))
        # Before: the failure is folded in the same batch as the collection, so its
        # module's node is made with the failure already known.
        early = f"{module_of('unit', 0)}::test_1"
        app.fold(collect("unit", 2, 3), end(early, "failed"))
        tree = app.query_one(SuitesTree)
        module = module_node(tree, "unit", 0)
        assert module.is_expanded
        texts = leaf_texts(module)
        assert len(texts) == 3 and texts[1].startswith("✗ test_1")
        # After: the module's node is there, folded; then one of its tests fails.
        late = f"{module_of('unit', 1)}::test_2"
        other = module_node(tree, "unit", 1)
        assert not other.is_expanded and not other.children
        app.fold(end(late, "error"))
        assert other.is_expanded
        assert "test_2" in leaf_texts(other)[2] and tree._tests[late].parent is other
        assert str(tree._tests[late].label).startswith("E ")


@pilot_test
async def test_nodes_arrive_in_slices_and_the_tree_ends_up_complete() -> None:
    app = TreeApp()
    async with app.run_test(size=(80, 24)):
        assert app.fold(RunStart(ts=0.0, layers=("unit",)), collect("unit", 25, 2), max_new=10)
        tree = app.query_one(SuitesTree)
        assert len(tree._modules) == 10
        assert app.fold(max_new=10) and len(tree._modules) == 20
        assert not app.fold(max_new=10) and len(tree._modules) == 25
        assert [m.label.plain.split()[0] for m in tree._layers["unit"].children] == [
            f"test_m{i}.py" for i in range(25)
        ]


@pilot_test
async def test_select_test_opens_a_folded_module_and_puts_the_cursor_on_the_test() -> None:
    app = TreeApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.fold(RunStart(ts=0.0, layers=("unit",)), collect("unit", 4, 3))
        tree = app.query_one(SuitesTree)
        nodeid = f"{module_of('unit', 3)}::test_1"
        assert nodeid not in tree._tests
        assert tree.select_test(nodeid)
        await pilot.pause()
        assert tree.cursor_node is tree._tests[nodeid]
        assert module_node(tree, "unit", 3).is_expanded


@pilot_test
async def test_a_filter_shows_a_test_that_matches_only_after_its_outcome_changed() -> None:
    app = TreeApp()
    async with app.run_test(size=(80, 24)):
        app.fold(RunStart(ts=0.0, layers=("unit",)), collect("unit", 2, 2))
        tree = app.query_one(SuitesTree)
        tree.set_filter("outcome:failed")
        assert tree.shown_tests() == [] and tree.first_test() is None
        nodeid = f"{module_of('unit', 1)}::test_0"
        app.fold(end(nodeid, "failed"))
        assert tree.shown_tests() == [nodeid] and tree.first_test() == nodeid
        assert str(tree._tests[nodeid].label).startswith("✗ test_0")
        # A rerun that passes leaves it shown, dimmed: it no longer matches.
        app.fold(end(nodeid, "passed"))
        label = tree._tests[nodeid].label
        assert isinstance(label, Text) and label.style == "dim"


@pilot_test
async def test_label_width_is_the_width_tree_would_measure() -> None:
    app = TreeApp()
    async with app.run_test(size=(80, 24)):
        app.fold(RunStart(ts=0.0, layers=("unit",)), collect("unit", 2, 2))
        tree = app.query_one(SuitesTree)
        tree.select_test(f"{module_of('unit', 0)}::test_1")
        nodes = [tree._layers["unit"], *tree._modules.values(), *tree._tests.values()]
        assert len(nodes) == 5
        for node in nodes:
            assert tree.get_label_width(node) == Tree.get_label_width(tree, node)


@pilot_test
async def test_cluster_panels_wait_while_their_tab_is_hidden_and_catch_up_when_shown() -> None:
    app = replay_app("partitioned")  # a lab session: partition, faults, workload
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        view = app.query_one(PartitionView)
        timeline = app.query_one("#fault-timeline", FaultTimeline)
        compact = app.query_one("#cluster-throughput", ThroughputPanel)
        # On the Suites tab: nothing drawn behind it, only noted as stale.
        assert view._stale and timeline._stale and compact._stale
        assert view.content == "" and timeline.content == ""
        await pilot.press("2")
        await pilot.pause()
        assert not (view._stale or timeline._stale or compact._stale)
        assert plain(view.content).strip() == plain(render_partition(app.state)).strip()
        assert "partition" in plain(timeline.content)
        # Shown, they follow new events at once.
        before = plain(view.content)
        app.feed.push(PartitionChanged(ts=app.state.now + 1, groups=(), cut=()))  # healed
        app.flush_now()
        assert plain(view.content) != before
        assert plain(view.content).strip() == plain(render_partition(app.state)).strip()
