"""A failure full screen: everything about one test, scrollable."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from distlab.tui.components.test_detail import render_test
from distlab.tui.state import TestInfo


class FailureScreen(Screen[None]):
    """One test's outcome, traceback and output over the whole terminal."""

    BINDINGS = [
        Binding("escape,q", "close", "Back", id="failure.back", tooltip="Back to the suites"),
        Binding(
            "o",
            "app.open_editor",
            "Open in $EDITOR",
            id="failure.editor",
            tooltip="Open the failing line in $EDITOR",
        ),
    ]

    def __init__(self, test: TestInfo) -> None:
        super().__init__()
        self.test = test

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="failure-body"):
            yield Static(render_test(self.test))
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
