"""The Suites filter (`/`): which tests a query keeps.

A query is words; a test is kept when every word matches. A word matches
when it is part of the test id, equals the outcome (``failed``), names a
marker (``chaos``), or is an explicit ``outcome:X`` / ``marker:X`` /
``layer:X``. Pure, so it is unit-tested without an app.
"""

from __future__ import annotations

from distlab.tui.state import TestInfo

_FIELDS = ("outcome", "marker", "layer")


def matches(test: TestInfo, query: str) -> bool:
    """True when ``test`` passes every word of ``query`` (an empty query keeps all)."""
    return all(_word(test, w) for w in query.lower().split())


def _word(test: TestInfo, word: str) -> bool:
    field, sep, value = word.partition(":")
    if sep and field in _FIELDS:
        if field == "outcome":
            return test.outcome == value
        if field == "marker":
            return value in (m.lower() for m in test.markers)
        return test.layer.lower() == value
    return (
        word in test.nodeid.lower()
        or word == test.outcome
        or word in (m.lower() for m in test.markers)
    )
