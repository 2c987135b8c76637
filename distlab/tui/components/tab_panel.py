"""A panel drawn from the state that waits while its tab is not shown.

Every redraw of a panel whose height follows its content asks Textual to lay
out the whole screen again (several ms a frame at 160x48). The Cluster and
Throughput panels change with every node sample and workload sample, so a
suites view with a cluster running behind it re-laid out the screen on every
flush for panels nobody could see. Now they only note that they are stale, and
draw when their tab is shown (Textual sends ``Show`` then).
"""

from __future__ import annotations

from textual.widget import Widget
from textual.widgets import Static


def under_hidden_tab(widget: Widget) -> bool:
    """True while a container above ``widget`` is not displayed (an inactive tab)."""
    node = widget.parent
    while isinstance(node, Widget):
        if not node.display:
            return True
        node = node.parent
    return False


class TabPanel(Static):
    """A Static redrawn by ``refresh_from_state``; subclasses implement ``draw``."""

    _stale = False

    def refresh_from_state(self) -> None:
        """Draw now, or once its tab is shown."""
        if under_hidden_tab(self):
            self._stale = True
            return
        self._stale = False
        self.draw()

    def draw(self) -> None:
        """Render the state into this widget."""
        raise NotImplementedError

    def on_show(self) -> None:
        if self._stale:
            self.refresh_from_state()
