"""The node table: one row per node (stable row key = node id); only changed cells redraw."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from distlab.tui.components.glyphs import NODE_STATE_STYLE, duration, size
from distlab.tui.state import LabState, NodeInfo

# (key, header, width): fixed widths, because a live cell may outgrow its first value.
COLUMNS = (
    ("id", "node", 5),
    ("state", "state", 15),
    ("role", "role", 13),
    ("term", "term", 4),
    ("cpu", "cpu%", 4),
    ("rss", "rss", 6),
    ("fds", "fds", 4),
    ("uptime", "uptime", 7),
    ("restarts", "rst", 3),
)


class NodeTable(DataTable[Any]):
    """Live node figures; the cursor row is the node lab keys act on."""

    def __init__(self, state: LabState, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.state = state
        self._shown: dict[str, dict[str, str]] = {}

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def cells(self, node: NodeInfo) -> dict[str, str]:
        """A node's figures as the strings shown (the unit of change detection)."""
        uptime = (
            duration(self.state.now - node.up_since)
            if node.up_since is not None and node.state in ("up", "paused")
            else "-"
        )
        return {
            "id": node.id,
            "state": node.state
            + (f" {node.signal}" if node.state == "crashed" and node.signal else ""),
            "role": node.role or "-",
            "term": "-" if node.term is None else str(node.term),
            "cpu": "-" if node.cpu_percent is None else f"{node.cpu_percent:.0f}",
            "rss": size(node.rss_bytes),
            "fds": "-" if node.fds is None else str(node.fds),
            "uptime": uptime,
            "restarts": str(node.restarts),
        }

    def refresh_nodes(self, dirty: set[str], *, clock_moved: bool = False) -> None:
        """Add new nodes; update only the cells of ``dirty`` nodes that changed.

        The cursor stays on the node it was on (rows removed above it would
        otherwise slide another node under it: a lab key must hit what is seen).
        """
        chosen = self.selected_node()
        self._update_rows(dirty, clock_moved)
        if chosen is not None and chosen in self._shown:
            row = self.get_row_index(chosen)
            if row != self.cursor_row:
                self.move_cursor(row=row, scroll=True)

    def _update_rows(self, dirty: set[str], clock_moved: bool) -> None:
        for gone in [n for n in self._shown if n not in self.state.nodes]:
            self.remove_row(gone)  # a new cluster replaced the last one
            del self._shown[gone]
        targets = self.state.nodes.keys() if clock_moved else dirty
        for node_id in sorted(targets):
            node = self.state.nodes.get(node_id)
            if node is None:
                continue
            cells = self.cells(node)
            shown = self._shown.get(node_id)
            if shown is None:
                self.add_row(*(self._styled(k, v, node) for k, v in cells.items()), key=node_id)
                self._shown[node_id] = cells
                continue
            for key, value in cells.items():
                if shown.get(key) != value:
                    self.update_cell(node_id, key, self._styled(key, value, node))
                    shown[key] = value

    @staticmethod
    def _styled(key: str, value: str, node: NodeInfo) -> Text | str:
        if key == "state":
            return Text(value, style=NODE_STATE_STYLE.get(node.state, ""))
        if key == "role" and node.role == "leader":
            return Text(value, style="bold")
        return value

    def selected_node(self) -> str | None:
        """The node id under the cursor."""
        if not self.row_count or not 0 <= self.cursor_row < self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0))
        return str(row_key.value)
