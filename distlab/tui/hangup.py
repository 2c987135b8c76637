"""Notice that the dashboard's display went away while it draws through pipes.

Under `textual serve` the app's stdin and stdout are pipes to the server. When
the server goes without sending "quit" (killed, crashed, its host gone),
Textual's web driver only ends its input thread at end of file, and the next
frame written to the dead stdout fails inside Textual's own error handler too
(its bell writes to the same pipe), so the app stays up drawing nothing, with
its run or lab going on, until someone kills it. ``HangupWatch`` waits on the
pipes themselves: poll(2) reports POLLHUP on a pipe's read end once no writer
is left and POLLERR on a write end once no reader is left. Asking for no events
reads nothing the driver needs, and the thread sleeps in poll, never spins.
A terminal's hang-up is SIGHUP's job (``distlab.tui.launch``).
"""

from __future__ import annotations

import os
import select
import stat
import sys
import threading
from collections.abc import Callable, Iterable

GONE = select.POLLHUP | select.POLLERR


def display_fds() -> list[int]:
    """The descriptors a Textual driver reads keys from and draws to."""
    fds = []
    for stream, default in ((sys.__stdin__, 0), (sys.__stdout__, 1)):
        try:
            fds.append(stream.fileno() if stream is not None else default)
        except (OSError, ValueError):  # detached or closed: the raw descriptor still is
            fds.append(default)
    return fds


def pipes_among(fds: Iterable[int]) -> list[int]:
    """Those of ``fds`` that are pipes or sockets."""
    found = []
    for fd in fds:
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue
        if (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)) and fd not in found:
            found.append(fd)
    return found


class HangupWatch:
    """Calls ``on_hangup`` once, on its own thread, when the far end of a watched pipe
    is gone. Watches the display's stdin and stdout unless given ``fds``."""

    def __init__(self, on_hangup: Callable[[], None], fds: Iterable[int] | None = None) -> None:
        self.on_hangup = on_hangup
        self.fds = pipes_among(display_fds() if fds is None else fds)
        self.hung_up = threading.Event()
        self._wake: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start watching; False when none of the descriptors is a pipe (a terminal)."""
        if not self.fds or self._thread is not None:
            return bool(self.fds)
        self._wake = os.pipe()
        self._thread = threading.Thread(target=self._watch, name="distlab-hangup", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        """Stop watching (without calling ``on_hangup``)."""
        thread, wake = self._thread, self._wake
        if thread is None or wake is None:
            return
        os.write(wake[1], b"x")
        thread.join(timeout=2)
        if not thread.is_alive():  # else it may still poll them; a daemon, left as it is
            os.close(wake[0])
            os.close(wake[1])
        self._thread = self._wake = None

    def _watch(self) -> None:
        assert self._wake is not None
        wake = self._wake[0]
        poller = select.poll()
        for fd in self.fds:
            poller.register(fd, 0)  # no events asked: only POLLHUP, POLLERR, POLLNVAL come
        poller.register(wake, select.POLLIN)
        watching = set(self.fds)
        while watching:
            for fd, events in poller.poll():
                if fd == wake:
                    return
                if events & GONE:
                    self.hung_up.set()
                    self.on_hangup()
                    return
                # POLLNVAL: closed under us. Stop asking about it: poll would answer
                # at once, forever, and this thread would spin.
                poller.unregister(fd)
                watching.discard(fd)
