"""The Suites tree: layer > module > test, with live marks and counts.

A 5,000-test run is 500 modules and 5,000 tests, and Textual's Tree pays for
what it holds: it re-measures every line it holds after each change and repaints
per label set. So the tree holds what can be seen: a node per layer and per
module, and test leaves only under the modules that are open (opened by the
user, by a failure of theirs, or by a filter). Tests are indexed per module as
they arrive (no Tree work), module counts come from that index, a label is set
only when it changed, and new nodes arrive in slices. The filter rebuilds, which
is rare.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from distlab.tui.components.glyphs import COUNT_MARKS, LAYER_STATUS_STYLE, mark
from distlab.tui.messages import TestActivated, TestHighlighted
from distlab.tui.query import matches
from distlab.tui.state import LabState, LayerInfo, TestInfo

# Nodes added per sync at most (a Tree add costs ~15 us, and every add makes the
# tree re-measure its lines on the next frame): a 500-module collection arrives
# over a few frames instead of in one long one.
NEW_NODES_PER_SYNC = 200

ModuleKey = tuple[str, str]  # (layer, module)
ICON_WIDTH = max(cell_len(Tree.ICON_NODE), cell_len(Tree.ICON_NODE_EXPANDED))  # a module's ▶/▼


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
        self._forget()

    def _forget(self) -> None:
        self._layers: dict[str, TreeNode[Ref]] = {}
        self._modules: dict[ModuleKey, TreeNode[Ref]] = {}
        self._tests: dict[str, TreeNode[Ref]] = {}  # leaves: tests of open modules only
        self._index: dict[ModuleKey, list[str]] = {}  # the tests shown, per module, in order
        self._shown: set[str] = set()  # every test id in _index
        self._seen: dict[str, int] = {}  # per layer: how many of its tests were indexed
        self._unmade: dict[ModuleKey, None] = {}  # indexed modules without a node yet
        self._unfilled: dict[ModuleKey, None] = {}  # open modules still missing leaves

    # -- building ------------------------------------------------------------------------

    def set_filter(self, query: str) -> None:
        """Keep only tests matching ``query`` (see distlab.tui.query); rebuilds the tree."""
        self.query_text = query.strip()
        self.clear()
        self._forget()
        while self.sync(set(), max_new=sys.maxsize):
            pass  # a filter's matches all at once: the user asked for exactly these

    def sync(self, dirty_tests: set[str], max_new: int = NEW_NODES_PER_SYNC) -> bool:
        """Index new tests; add nodes for new layers and modules and leaves for open
        modules (at most ``max_new`` nodes); relabel what ``dirty_tests`` changed.
        True when nodes are still waiting (call again)."""
        self._index_new_tests()
        tests = self.state.tests
        if self.query_text:
            # Filtered out when they arrived; a new outcome may match now.
            for nodeid in dirty_tests:
                test = tests.get(nodeid)
                if (
                    test is not None
                    and nodeid not in self._shown
                    and matches(test, self.query_text)
                ):
                    self._index_test(test)
        budget = max_new
        while self._unmade and budget > 0:
            key = next(iter(self._unmade))
            del self._unmade[key]
            self._add_module(key)
            budget -= 1
        modules: set[ModuleKey] = set()
        for nodeid in dirty_tests:
            test = tests.get(nodeid)
            if test is None or nodeid not in self._shown:
                continue
            key = (test.layer, test.module)
            modules.add(key)
            module = self._modules.get(key)
            if test.failing and module is not None and not module.is_expanded:
                module.expand()  # a failure unfolds its own module
                self._unfilled[key] = None
        for key in list(self._unfilled):
            if budget <= 0:
                break
            budget -= self._fill(key, budget)
        for nodeid in dirty_tests:
            leaf = self._tests.get(nodeid)
            test = tests.get(nodeid)
            if leaf is None or test is None:
                continue
            label = self._test_label(test)
            if self.query_text and not matches(test, self.query_text):
                # The outcome moved it out of the filter (say "failed" -> rerun passed).
                label = Text(label.plain, style="dim")
            _relabel(leaf, label)
        for key in modules:
            module = self._modules.get(key)
            if module is not None:
                _relabel(module, self._module_label(key))
        return bool(self._unmade or self._unfilled)

    def _index_new_tests(self) -> None:
        """Note the tests that arrived since the last sync under their modules (no nodes yet)."""
        for layer in self.state.ordered_layers():
            if layer.name not in self._layers and not self.query_text:
                self._add_layer(layer)
            seen = self._seen.get(layer.name, 0)
            if seen == len(layer.tests):
                continue
            for test in itertools.islice(layer.tests.values(), seen, None):
                if not self.query_text or matches(test, self.query_text):
                    self._index_test(test)
            self._seen[layer.name] = len(layer.tests)

    def _index_test(self, test: TestInfo) -> None:
        layer = self.state.layers[test.layer]
        if layer.name not in self._layers:  # filtering: a layer shows once a test matches
            self._add_layer(layer)
        key = (test.layer, test.module)
        ids = self._index.get(key)
        if ids is None:
            ids = self._index[key] = []
            self._unmade[key] = None
        ids.append(test.nodeid)
        self._shown.add(test.nodeid)
        module = self._modules.get(key)
        if module is not None and module.is_expanded:
            self._unfilled[key] = None

    def _add_module(self, key: ModuleKey) -> None:
        # Modules start folded (a 5,000-test run is thousands of lines); a module with
        # a failure starts open, and a filtered tree shows every match.
        tests = self.state.tests
        expand = bool(self.query_text) or any(
            tests[nodeid].failing for nodeid in self._index[key] if nodeid in tests
        )
        layer, module = key
        self._modules[key] = self._layers[layer].add(
            self._module_label(key), data=Ref(layer, module), expand=expand
        )
        if expand:
            self._unfilled[key] = None

    def _fill(self, key: ModuleKey, limit: int) -> int:
        """Add up to ``limit`` of an open module's missing leaves; how many were added."""
        module = self._modules[key]
        ids = self._index[key]
        have = len(module.children)
        todo = ids[have : have + limit]
        for nodeid in todo:
            test = self.state.tests[nodeid]
            self._tests[nodeid] = module.add_leaf(
                self._test_label(test), data=Ref(key[0], key[1], nodeid)
            )
        if have + len(todo) >= len(ids):
            self._unfilled.pop(key, None)
        return len(todo)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Ref]) -> None:
        # Opened (by the user, or by a failure): its tests get their leaves now.
        ref = event.node.data
        if ref is not None and ref.module is not None and ref.nodeid is None:
            key = (ref.layer, ref.module)
            if key in self._modules:
                self._fill(key, sys.maxsize)

    def get_label_width(self, node: TreeNode[Ref]) -> int:
        """A line's width without rendering its label (Tree measures every line it
        holds after each change)."""
        label = node.label
        width = label.cell_len if isinstance(label, Text) else cell_len(str(label))
        return width + (ICON_WIDTH if node.allow_expand else 0)

    def _add_layer(self, layer: LayerInfo) -> TreeNode[Ref]:
        node = self._layers[layer.name] = self.root.add(
            self._layer_label(layer), data=Ref(layer.name), expand=True
        )
        return node

    def first_test(self) -> str | None:
        """The first test shown, in tree order (None when the filter hides all)."""
        for layer in self._layers.values():
            for module in layer.children:
                ref = module.data
                ids = self._index.get((ref.layer, ref.module or "")) if ref else None
                if ids:
                    return ids[0]
        return None

    def shown_tests(self) -> list[str]:
        """Every test the tree shows (all, or the filter's matches), open module or not."""
        return [nodeid for ids in self._index.values() for nodeid in ids]

    def refresh_layers(self) -> None:
        """Relabel the layer nodes (their counts)."""
        for name, node in self._layers.items():
            layer = self.state.layers.get(name)
            if layer is not None:
                _relabel(node, self._layer_label(layer))

    @staticmethod
    def _test_label(test: TestInfo) -> Text:
        glyph, style = mark(test.outcome)
        label = Text.assemble((glyph, style), " ", test.name)
        if test.duration_s is not None and test.outcome != "running":
            label.append(f" {test.duration_s:.2f}s", style="dim")
        return label

    def _module_label(self, key: ModuleKey) -> Text:
        counts: dict[str, int] = {}
        tests = self.state.tests
        for nodeid in self._index.get(key, ()):
            test = tests.get(nodeid)
            if test is not None:
                counts[test.outcome] = counts.get(test.outcome, 0) + 1
        name = key[1].rsplit("/", 1)[-1]
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
        """Move the cursor to a test, opening its module; False if the filter hides it."""
        test = self.state.tests.get(nodeid)
        if test is None or nodeid not in self._shown:
            return False
        key = (test.layer, test.module)
        if key not in self._modules:
            self._unmade.pop(key, None)
            self._add_module(key)
        module = self._modules[key]
        parent: TreeNode[Ref] | None = module
        while parent is not None:
            if not parent.is_expanded:
                parent.expand()
            parent = parent.parent
        self._fill(key, sys.maxsize)
        # Lay the lines out now so the node knows its line (Tree does it lazily).
        self._tree_lines  # noqa: B018
        self.move_cursor(self._tests[nodeid])
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


def _relabel(node: TreeNode[Ref], label: Text) -> None:
    """Set a node's label only when it changed: every set repaints the node's lines."""
    if node.label != label:
        node.set_label(label)
