"""The partition menu: pick a named shape (Jepsen's vocabulary) to cut the network."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

SHAPE_HELP = {
    "halves": "two halves",
    "isolate": "one node alone (the first)",
    "majority_minority": "a majority and a minority",
    "majorities_ring": "overlapping majorities",
    "bridge": "halves joined by a bridge node",
    "asymmetric": "one direction cut only",
}


class PartitionMenu(ModalScreen[str | None]):
    """Returns the chosen shape's name, or None."""

    BINDINGS = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="partition.cancel",
            tooltip="Close without partitioning",
        )
    ]

    def __init__(self, shapes: list[str]) -> None:
        super().__init__()
        self.shapes = shapes

    def compose(self) -> ComposeResult:
        with Vertical(id="partition-box"):
            yield Static("[b]Partition the network[/b]  (enter picks, escape cancels)")
            yield OptionList(
                *(Option(f"{s:<18} {SHAPE_HELP.get(s, '')}", id=s) for s in self.shapes),
                id="partition-shapes",
            )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
