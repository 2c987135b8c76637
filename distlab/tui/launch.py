"""Run the dashboard in the foreground and make sure its back end is closed after.

Quit, Ctrl-C, SIGTERM and SIGHUP (the terminal went away) all end in
``backend.close()``, which stops the run or the cluster and waits for their
process groups; anything that still escaped dies with us through
``distlab.proc``'s PDEATHSIG and guardian.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from distlab.tui.app import DistlabApp
from distlab.tui.backend import Backend


def run_dashboard(backend: Backend, **app_options: Any) -> int:
    """Open the dashboard on ``backend``; returns the app's exit code."""
    app = DistlabApp(backend, **app_options)

    def leave(signum: int, frame: FrameType | None) -> None:
        # Runs on the main thread between event-loop steps; exit is just a message.
        app.call_later(app.exit, 128 + signum)

    previous = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        code = app.run()
    finally:
        try:
            backend.close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return int(code or 0)
