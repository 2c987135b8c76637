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

from distlab.tui.components.glyphs import LAYER_STATUS_STYLE, mark
from distlab.tui.messages import TestActivated, TestHighlighted
from distlab.tui.query import matches
from distlab.tui.state import LabState, LayerInfo, TestInfo


@dataclass(frozen=True)
class Ref:
    """What a tree node stands for."""

    layer: str
    module: str | None = None
    nodeid: str | None = None


class SuitesTree(Tree[Ref]):
    """Layers, modules and tests of the current run."""

    BINDINGS = [
        Binding("enter", "activate", "Open/run", id="tree.activate", tooltip="Open a failure full screen, or run the selected layer, module or test", show=False),
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
        self.sync(set())

    def sync(self, dirty_tests: set[str]) -> None:
        """Add nodes for new layers and tests; relabel the tests in ``dirty_tests``."""
        for layer in self.state.ordered_layers():
            lnode = self._layers.get(layer.name)
            if lnode is None and not self.query_text:
                lnode = self._add_layer(layer)
            for test in layer.tests.values():
                if test.nodeid in self._tests:
                    continue
                if self.query_text and not matches(test, self.query_text):
                    continue
                if lnode is None:  # filtering: a layer shows once one of its tests matches
                    lnode = self._add_layer(layer)
                key = (layer.name, test.module)
                mnode = self._modules.get(key)
                if mnode is None:
                    mnode = self._modules[key] = lnode.add(
                        test.module.rsplit("/", 1)[-1], data=Ref(layer.name, test.module), expand=True
                    )
                self._tests[test.nodeid] = mnode.add_leaf(
                    self._test_label(test), data=Ref(layer.name, test.module, test.nodeid)
                )
        for nodeid in dirty_tests:
            node = self._tests.get(nodeid)
            test = self.state.tests.get(nodeid)
            if node is None or test is None:
                continue
            if self.query_text and not matches(test, self.query_text):
                # The outcome moved it out of the filter (say "failed" -> rerun passed).
                node.set_label(Text(self._test_label(test).plain, style="dim"))
                continue
            node.set_label(self._test_label(test))

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

    @staticmethod
    def _layer_label(layer: LayerInfo) -> Text:
        c = layer.counts()
        text = Text(layer.name, style=LAYER_STATUS_STYLE.get(layer.status, "") + " bold")
        text.append(f" {layer.done()}/{c['total']}", style="dim")
        for key, glyph, style in (
            ("passed", "✓", "green"),
            ("failed", "✗", "red"),
            ("error", "E", "red"),
            ("flaky", "~", "yellow"),
            ("skipped", "s", "dim"),
            ("running", "▶", "cyan"),
        ):
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
