"""What the dashboard drives, behind one small protocol.

The app only renders state and sends commands; whatever runs tests or
processes sits behind ``Backend``: ``RunBackend`` (the runner on a config),
``ReplayBackend`` (a recorded events file: nothing to run) and, in lab
mode, ``distlab.tui.lab.LabBackend`` (a ``distlab.lab.LabSession``). A back
end with ``controls`` (``distlab.lab.LabControls``) gets the fault keys.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

from distlab.events import Log
from distlab.lab.controls import LabControls
from distlab.tui.feed import EventFeed, FileReader


class Backend(Protocol):
    """Commands the dashboard can send. Each returns a one-line answer for the user
    (None when it just started), and never raises for a user mistake."""

    name: str
    controls: LabControls | None  # a lab's fault keys; None: no fault keys
    runs_suites: bool  # False: the run keys (a, f, s, enter on a test) are hidden

    def start(self, feed: EventFeed) -> None: ...
    def run(
        self, only: dict[str, list[str]] | None = None, layers: list[str] | None = None
    ) -> str | None: ...
    def stop(self) -> str | None: ...
    def busy(self) -> bool: ...
    def close(self) -> None: ...


class ReplayBackend:
    """A finished run read from its events file: everything to see, nothing to run."""

    controls: LabControls | None = None
    runs_suites = False

    def __init__(self, path: Path, speed: float | None = None) -> None:
        self.path = path
        self.name = f"replay {path.parent.name if path.name == 'events.jsonl' else path.name}"
        self.speed = speed
        self._reader: FileReader | None = None

    def start(self, feed: EventFeed) -> None:
        self._reader = FileReader(self.path, feed, speed=self.speed)
        self._reader.start()

    def run(
        self, only: dict[str, list[str]] | None = None, layers: list[str] | None = None
    ) -> str | None:
        return "this is a replay: nothing to run (use `distlab` to run the suites)"

    def stop(self) -> str | None:
        if self._reader is not None and not self._reader.done.is_set():
            self._reader.stop()
            return "replay stopped"
        return "this is a replay: nothing is running"

    def busy(self) -> bool:
        return self._reader is not None and not self._reader.done.is_set()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.stop()


class RunBackend:
    """The runner over a loaded config: one ``distlab.runner.Run`` at a time."""

    controls: LabControls | None = None
    runs_suites = True

    def __init__(
        self,
        config: Any,
        seed: int | None = None,
        layers: list[str] | None = None,
        long: bool = False,
    ) -> None:
        self.config = config
        self.seed = seed
        self.layers = layers  # `distlab --layers X`: what `a` runs
        self.long = long
        self.name = str(getattr(config.project, "name", "") or config.path)
        self._feed: EventFeed | None = None
        self._run: Any = None

    def start(self, feed: EventFeed) -> None:
        """Show what will run: the gates as pending at once, the layers' tests once
        collected (on a thread; cached by file mtimes, see ``distlab.tui.preview``)."""
        from distlab.tui import preview

        self._feed = feed
        for event in preview.gate_events(self.config):
            feed.push(event)

        def collect() -> None:
            try:
                found = preview.collected_events(self.config)
            except Exception as e:  # the dashboard still opens; a run says the rest
                feed.push(
                    Log(level="warning", source="dashboard", message=f"cannot list tests: {e}")
                )
                return
            if self._run is None:  # a run started meanwhile collects for itself
                for event in found:
                    feed.push(event)

        threading.Thread(target=collect, name="distlab-preview", daemon=True).start()

    def busy(self) -> bool:
        return self._run is not None and not self._run.finished

    def run(
        self, only: dict[str, list[str]] | None = None, layers: list[str] | None = None
    ) -> str | None:
        from distlab.errors import DistlabError
        from distlab.runner import Run

        if self.busy():
            return "a run is in progress: press s to stop it first"
        assert self._feed is not None
        try:
            run = Run(
                self.config,
                layers=layers if layers is not None or only is not None else self.layers,
                only=only,
                seed=self.seed,
                on_event=self._feed.push,
                long=self.long,
                # reports/ is what CI reads; a run from the dashboard leaves it alone
                # unless the project asks for it.
                project_reports=self.config.project.dashboard_reports,
            )
        except DistlabError as e:
            return e.message
        self._run = run
        run.start()
        return None

    def stop(self) -> str | None:
        if not self.busy():
            return "nothing is running"
        self._run.stop()
        return "stopping the run"

    def close(self) -> None:
        """Stop the run and wait for it: its layers' process groups die with it."""
        if self._run is not None:
            self._run.stop()
            self._run.wait(timeout=30)
