"""Lab mode's dashboard back end: a ``distlab.lab.LabSession`` seen through its event file.

The session itself (cluster, workload, nemesis, what is saved) lives in
``distlab.lab``; this module only routes the process's events into
``<session>/events.jsonl``, tails that file into the app (so a lab reaches the
screen exactly as a replay does), and hands the app the session's keys.
"""

from __future__ import annotations

from distlab import events
from distlab.lab.controls import LabControls
from distlab.lab.session import LabSession
from distlab.tui.feed import EventFeed, FileReader


class LabBackend:
    """The dashboard's ``Backend`` for a lab session; ``controls`` are its fault keys."""

    runs_suites = False

    def __init__(self, session: LabSession) -> None:
        self.session = session
        self.name = session.name
        self.controls: LabControls | None = session.keys
        self._reader: FileReader | None = None
        self._redirected = False
        self._previous_target: str | None = None

    def start(self, feed: EventFeed) -> None:
        """Route events into the session file, tail it, and bring the lab up on a thread."""
        events_path = self.session.dir / "events.jsonl"
        # The cluster, network and workload all emit through the process-wide sink.
        self._previous_target = events.redirect(f"file:{events_path}")
        self._redirected = True
        self._reader = FileReader(events_path, feed, follow=True)
        self._reader.start()
        self.session.start()

    def run(
        self, only: dict[str, list[str]] | None = None, layers: list[str] | None = None
    ) -> str | None:
        return "lab mode runs no suites; use `distlab` for that"

    def stop(self) -> str | None:
        return self.session.stop_workload()

    def busy(self) -> bool:
        return not self.session.closing.is_set()

    def close(self) -> None:
        """Save and tear the session down (waits for it), then stop tailing."""
        try:
            self.session.close()
        finally:
            if self._reader is not None:
                self._reader.stop()
            if self._redirected:
                events.redirect(self._previous_target)
