"""Run the dashboard in the foreground and make sure its back end is closed after.

Quit, Ctrl-C, SIGTERM, SIGHUP (the terminal went away) and a lost display (the
pipes to `textual serve` closed without a "quit", ``distlab.tui.hangup``) all
end in ``backend.close()``, which stops the run or the cluster and waits for
their process groups; anything that still escaped dies with us through
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
from distlab.tui.hangup import HangupWatch

HANGUP_CODE = 128 + signal.SIGHUP  # the exit code when the display went away


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
    hanging_up = threading.Lock()  # held once the display is known to be gone

    def close_once() -> None:
        nonlocal closed
        with lock:
            if not closed:
                closed = True
                if backend.busy():
                    # Stopping a run or a cluster takes seconds after the screen is gone;
                    # say so rather than look hung.
                    try:
                        print(f"distlab: stopping {backend.name}…", file=sys.stderr, flush=True)
                    except OSError:  # the display went with its stderr: the close matters more
                        pass
                backend.close()

    def hang_up(code: int) -> None:
        # With the display gone, Textual's shutdown can block for good writing its
        # goodbye to the dead tty (seen: its writer queue never drains), or never come
        # (seen under `textual serve`: a frame's failed write failed again in Textual's
        # error handler, and the app lived on drawing nothing). Do not wait on it:
        # close the back end, then leave.
        close_once()
        os._exit(code)

    def lost(code: int) -> None:
        """The display is gone: ask the app to leave, and close and exit without it."""
        app.call_later(app.exit, code)
        if hanging_up.acquire(blocking=False):
            threading.Thread(
                target=hang_up, args=(code,), name="distlab-hang-up", daemon=True
            ).start()

    def leave(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            lost(128 + signum)
        else:
            app.call_later(app.exit, 128 + signum)

    def closing(signum: int, frame: FrameType | None) -> None:
        """SIGTERM or SIGHUP while the back end closes: that is what they ask for, and
        the close is bounded; dying half-way would leave the session unsaved."""

    watch = HangupWatch(lambda: lost(HANGUP_CODE))
    previous = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    watch.start()
    try:
        code = app.run()
    finally:
        # Textual's web driver hands SIGTERM to the event loop, and the loop's close put
        # it back to the default: without this a second SIGTERM killed us mid-close.
        for sig in previous:
            signal.signal(sig, closing)
        try:
            close_once()
        finally:
            watch.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return int(code or 0)
