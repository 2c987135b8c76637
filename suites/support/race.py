"""Release many threads at once against one piece of shared state."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def race(
    n: int,
    work: Callable[[int], None],
    timeout_s: float = 90,
    gave_up: threading.Event | None = None,
) -> None:
    """Run ``work(i)`` in ``n`` threads released together; re-raise the first error.

    ``gave_up`` is set when a racer fails or time runs out, so workers that
    loop on it stop instead of waiting for work that will never come.
    """
    start = threading.Barrier(n)
    errors: list[BaseException] = []
    stop = gave_up if gave_up is not None else threading.Event()

    def run(i: int) -> None:
        try:
            start.wait()
            work(i)
        except BaseException as exc:  # reported below
            errors.append(exc)
            stop.set()

    stop.clear()
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout_s
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    hung = any(t.is_alive() for t in threads)
    stop.set()  # a hung thread sees this and stops
    assert not errors, repr(errors[0])
    assert not hung, f"racing threads still ran after {timeout_s:g} s"
