"""Messages between the dashboard's parts: small dataclasses, one place."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.notifications import SeverityLevel


class EventsPending(Message):
    """New events wait in the feed. Replaceable: a burst collapses into one."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EventsPending)


@dataclass
class BackendNotice(Message):
    """The back end has something to say (one line), e.g. a run that could not start."""

    text: str
    severity: SeverityLevel = "information"


@dataclass
class TestActivated(Message):
    """`enter` on a tree node: a layer, a module or a test (``nodeid``)."""

    layer: str
    target: str | None  # None: the whole layer; a module path or a test id otherwise
    nodeid: str | None = None
    __test__ = False  # a message, not a pytest test class


@dataclass
class TestHighlighted(Message):
    """The tree's cursor moved onto a test (or off tests: ``nodeid`` None)."""

    nodeid: str | None
    __test__ = False
