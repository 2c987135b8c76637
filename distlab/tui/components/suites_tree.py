"""The Suites tree: layer > module > test, with live marks and counts.

Nodes are created once per test and relabelled only when their test
changed (the state's dirty set), so a 5,000-test run costs a few label
updates per tick, not a rebuild. The filter rebuilds, which is rare.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from distlab.tui.components.glyphs import COUNT_MARKS, LAYER_STATUS_STYLE, mark
from distlab.tui.messages import TestActivated, TestHighlighted
from distlab.tui.query import matches
from distlab.tui.state import LabState, LayerInfo, TestInfo

# Adding a Tree node costs a fraction of a millisecond; a 5,000-test collection
# added at once would freeze the UI for seconds, so new nodes arrive in slices.
NEW_NODES_PER_SYNC = 200


@dataclass(frozen=True)
class Ref:
    """What a tree node stands for."""

    layer: str
    module: str | None = None
    nodeid: str | None = None


class SuitesTree(Tree[Ref]):
    """Layers, modules and tests of the current run."""

    BINDINGS = [
        Binding(
            "enter",
            "activate",
            "Open/run",
            id="tree.activate",
            tooltip="Open a failure full screen, or run the selected layer, module or test",
            show=False,
        ),
    ]

    def __init__(self, state: LabState, **kwargs: object) -> None:
        super().__init__("suites", **kwargs)  # type: ignore[arg-type]
        self.show_root = False
        self.guide_depth = 2
        self.state = state
        self.query_text = ""
        self._layers: dict[str, TreeNode[Ref]] = {}
        self._modules: dict[tuple[str, str], TreeNode[Ref]] = {}
        self._tests: dict[str, TreeNode[Ref]] = {}

    # -- building ------------------------------------------------------------------------

    def set_filter(self, query: str) -> None:
        """Keep only tests matching ``query`` (see distlab.tui.query); rebuilds the tree."""
        self.query_text = query.strip()
        self.clear()
        self._layers.clear()
        self._modules.clear()
        self._tests.clear()
        while self.sync(set()):
            pass  # a filter's matches all at once: the user asked for exactly these

    def sync(self, dirty_tests: set[str], max_new: int = NEW_NODES_PER_SYNC) -> bool:
        """Add nodes for new layers and tests (at most ``max_new``); relabel the tests in
        ``dirty_tests``. True when tests are still waiting for a node (call again)."""
        added = 0
        more = False
        for layer in self.state.ordered_layers():
            if added >= max_new:
                more = True
                break
            lnode = self._layers.get(layer.name)
            if lnode is None and not self.query_text:
                lnode = self._add_layer(layer)
            for test in layer.tests.values():
                if test.nodeid in self._tests:
                    continue
                if self.query_text and not matches(test, self.query_text):
                    continue
                if added >= max_new:
                    more = True
                    break
                added += 1
                if lnode is None:  # filtering: a layer shows once one of its tests matches
                    lnode = self._add_layer(layer)
                key = (layer.name, test.module)
                mnode = self._modules.get(key)
                if mnode is None:
                    # Modules start folded (a 5,000-test run is thousands of lines that
                    # the tree would re-measure on every change); a failure unfolds its
                    # module, and a filtered tree shows every match.
                    mnode = self._modules[key] = lnode.add(
                        test.module.rsplit("/", 1)[-1],
                        data=Ref(layer.name, test.module),
                        expand=bool(self.query_text),
                    )
                self._tests[test.nodeid] = mnode.add_leaf(
                    self._test_label(test), data=Ref(layer.name, test.module, test.nodeid)
                )
                dirty_tests.add(test.nodeid)
        modules: set[TreeNode[Ref]] = set()
        for nodeid in dirty_tests:
            node = self._tests.get(nodeid)
            changed = self.state.tests.get(nodeid)
            if node is None or changed is None:
                continue
            if node.parent is not None:
                modules.add(node.parent)
                if changed.failing and not node.parent.is_expanded:
                    node.parent.expand()
            if self.query_text and not matches(changed, self.query_text):
                # The outcome moved it out of the filter (say "failed" -> rerun passed).
                node.set_label(Text(self._test_label(changed).plain, style="dim"))
                continue
            node.set_label(self._test_label(changed))
        for module in modules:
            module.set_label(self._module_label(module))
        return more

    def _add_layer(self, layer: LayerInfo) -> TreeNode[Ref]:
        node = self._layers[layer.name] = self.root.add(
            self._layer_label(layer), data=Ref(layer.name), expand=True
        )
        return node

    def first_test(self) -> str | None:
        """The first test shown, in tree order (None when the filter hides all)."""
        for layer in self._layers.values():
            for module in layer.children:
                for leaf in module.children:
                    if leaf.data is not None and leaf.data.nodeid:
                        return leaf.data.nodeid
        return None

    def refresh_layers(self) -> None:
        """Relabel the layer nodes (their counts)."""
        for name, node in self._layers.items():
            layer = self.state.layers.get(name)
            if layer is not None:
                node.set_label(self._layer_label(layer))

    @staticmethod
    def _test_label(test: TestInfo) -> Text:
        glyph, style = mark(test.outcome)
        label = Text.assemble((glyph, style), " ", test.name)
        if test.duration_s is not None and test.outcome != "running":
            label.append(f" {test.duration_s:.2f}s", style="dim")
        return label

    def _module_label(self, module: TreeNode[Ref]) -> Text:
        counts: dict[str, int] = {}
        for leaf in module.children:
            test = (
                self.state.tests.get(leaf.data.nodeid) if leaf.data and leaf.data.nodeid else None
            )
            if test is not None:
                counts[test.outcome] = counts.get(test.outcome, 0) + 1
        name = module.data.module.rsplit("/", 1)[-1] if module.data and module.data.module else "?"
        text = Text(name)
        for outcome in ("failed", "error", "running", "flaky", "passed", "skipped"):
            if counts.get(outcome):
                glyph, style = mark(outcome)
                text.append(f" {glyph}{counts[outcome]}", style=style)
        return text

    @staticmethod
    def _layer_label(layer: LayerInfo) -> Text:
        c = layer.counts()
        text = Text(layer.name, style=LAYER_STATUS_STYLE.get(layer.status, "") + " bold")
        text.append(f" {layer.done()}/{c['total']}", style="dim")
        for key, glyph, style in COUNT_MARKS:
            if c[key]:
                text.append(f" {glyph}{c[key]}", style=style)
        if layer.status not in ("idle", "running", "passed"):
            text.append(f" [{layer.status}]", style=LAYER_STATUS_STYLE.get(layer.status, ""))
        return text

    # -- selection -----------------------------------------------------------------------

    def select_test(self, nodeid: str) -> bool:
        """Move the cursor to a test; False if the filter hides it."""
        node = self._tests.get(nodeid)
        if node is None:
            return False
        parent = node.parent
        while parent is not None:
            parent.expand()
            parent = parent.parent
        # Lay the lines out now so the node knows its line (Tree does it lazily).
        self._tree_lines  # noqa: B018
        self.move_cursor(node)
        return True

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Ref]) -> None:
        ref = event.node.data
        self.post_message(TestHighlighted(ref.nodeid if ref else None))

    def action_activate(self) -> None:
        node = self.cursor_node
        if node is None or node.data is None:
            return
        ref = node.data
        self.post_message(TestActivated(ref.layer, ref.nodeid or ref.module, ref.nodeid))
