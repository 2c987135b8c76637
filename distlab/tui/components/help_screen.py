"""`?`: every key, what it does, and where it works."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    ("a", "run all layers"),
    ("enter", "on a failure: open it full screen; else run the layer/module/test"),
    ("f", "rerun the failed tests"),
    ("s", "stop the run (kills its pytest processes)"),
    ("/", "filter tests: words, outcome:failed, marker:chaos, layer:unit"),
    ("o", "open the selected test in $EDITOR at its line"),
    ("1-4", "Suites, Cluster, Throughput, Gates"),
    ("ctrl+p", "command palette: every action by name"),
    ("q", "quit (stops everything cleanly)"),
    ("", ""),
    ("lab mode", ""),
    ("k", "kill the selected node (SIGKILL)"),
    ("p", "pause / resume the selected node"),
    ("r", "restart the selected node"),
    ("n", "partition menu (named shapes)"),
    ("l", "add 100 ms latency to every peer link"),
    ("h", "heal all: network whole, paused nodes resumed"),
)


class HelpScreen(ModalScreen[None]):
    """The key reference."""

    BINDINGS = [
        Binding(
            "escape,q,question_mark", "dismiss", "Close", id="help.close", tooltip="Close the help"
        ),
    ]

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 1))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        with VerticalScroll(id="help-box"):
            yield Static("[b]distlab keys[/b]  (escape closes)\n")
            yield Static(table)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
