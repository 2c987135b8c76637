"""Run the dashboard in the foreground and make sure its back end is closed after.

Quit, Ctrl-C, SIGTERM and SIGHUP (the terminal went away) all end in
``backend.close()``, which stops the run or the cluster and waits for their
process groups; anything that still escaped dies with us through
``distlab.proc``'s PDEATHSIG and guardian.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

from distlab.errors import UsageError
from distlab.tui.app import DistlabApp
from distlab.tui.backend import Backend


def need_terminal(command: str) -> None:
    """Refuse to open the dashboard without a terminal (CI, a pipe): Textual would
    write escape codes into the pipe and wait for keys that never come.

    ``TEXTUAL_DRIVER`` is set by `textual serve`, which runs us on pipes but
    draws in a browser.
    """
    if os.environ.get("TEXTUAL_DRIVER"):
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        hint = (
            "use `distlab --ci` to run headless"
            if command == "distlab"
            else f"run `{command}` in a terminal"
        )
        raise UsageError(f"no terminal for the dashboard (stdin or stdout is not a tty); {hint}")


def run_dashboard(backend: Backend, **app_options: Any) -> int:
    """Open the dashboard on ``backend``; returns the app's exit code."""
    app = DistlabApp(backend, **app_options)
    lock = threading.Lock()
    closed = False

    def close_once() -> None:
        nonlocal closed
        with lock:
            if not closed:
                closed = True
                if backend.busy():
                    # Stopping a run or a cluster takes seconds after the screen is gone;
                    # say so rather than look hung.
                    print(f"distlab: stopping {backend.name}…", file=sys.stderr, flush=True)
                backend.close()

    def hang_up(code: int) -> None:
        # With the terminal gone, Textual's shutdown can block for good writing its
        # goodbye to the dead tty (seen: its writer queue never drains). Do not wait
        # on it: close the back end, then leave.
        close_once()
        os._exit(code)

    def leave(signum: int, frame: FrameType | None) -> None:
        app.call_later(app.exit, 128 + signum)
        if signum == signal.SIGHUP:
            threading.Thread(target=hang_up, args=(128 + signum,), daemon=True).start()

    previous = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        code = app.run()
    finally:
        try:
            close_once()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return int(code or 0)
