"""Keep Python's cyclic garbage collector out of the dashboard's frames.

A full collection walks every tracked object, and once the dashboard is up
that is Textual's own heap (~70,000 objects) plus the run's: measured 100-230
ms on a loaded 2-core machine, in one go, on the UI thread. Events make it
frequent: a 10,000 events/s stream keeps thousands of them waiting in the
feed, the default young threshold (700 allocations) sees them still alive and
promotes them, and promotions are what trigger a full collection.

So while the event pump runs: the heap that exists once the first frame is
drawn is frozen (never walked again; it lives as long as the app), and young
collections wait for 5,000 allocations, by which time an applied event has
been freed by its reference count. ``release`` puts both back.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 5_000


class QuietCollector:
    """Freezes the heap and raises the young threshold; ``release`` undoes both."""

    def __init__(self) -> None:
        self._thresholds: tuple[int, int, int] | None = None

    def hold(self) -> None:
        """Freeze the heap as it is now (call once the app is drawn)."""
        if self._thresholds is not None:
            return
        self._thresholds = gc.get_threshold()
        # No collection first: it would cost a full walk at start-up (and one per app
        # in a test process), and whatever garbage is frozen is thawed by release().
        gc.freeze()
        _, middle, old = self._thresholds
        gc.set_threshold(max(YOUNG_THRESHOLD, self._thresholds[0]), middle, old)

    def release(self) -> None:
        """Thaw the frozen heap and restore the thresholds (the app is leaving)."""
        if self._thresholds is None:
            return
        gc.set_threshold(*self._thresholds)
        self._thresholds = None
        gc.unfreeze()
