"""Where checker verdicts are announced.

Checkers are pure: they return a verdict and say nothing. Whoever runs one
against a real history (the history recorder, the lab, a suite's queue
check) calls ``announce``, which

- emits a ``check.verdict`` event naming the test that was running, so the
  dashboard can show the verdict next to it;
- remembers the verdict for that test, so the pytest plugin can put it in the
  test's report. The runner reads it there: a test that failed with an
  INVALID verdict is a counterexample, and a rerun that passes cannot turn it
  into "flaky" (reruns are for infrastructure, not for histories).
"""

from __future__ import annotations

import threading

from distlab import events

# ``<checker>=<verdict>`` strings per test, as they go into the JSON report.
_lock = threading.Lock()
_current = ""
_seen: dict[str, list[str]] = {}


def begin_test(nodeid: str) -> None:
    """The pytest plugin: ``nodeid`` starts; verdicts announced from now on are its."""
    global _current
    with _lock:
        _current = nodeid
        _seen.pop(nodeid, None)


def end_test(nodeid: str) -> list[str]:
    """The pytest plugin: ``nodeid`` ended; its verdicts as ``checker=verdict`` strings."""
    global _current
    with _lock:
        if _current == nodeid:
            _current = ""
        return _seen.pop(nodeid, [])


def verdicts_so_far(nodeid: str) -> list[str]:
    """The verdicts ``nodeid`` has announced so far (a copy)."""
    with _lock:
        return list(_seen.get(nodeid, []))


def announce(checker: str, verdict: str, detail: str = "", timeline: str = "") -> None:
    """Tell the run what ``checker`` concluded about a history (any thread);
    ``timeline``: the path of the counterexample's HTML timeline, if one was written."""
    with _lock:
        nodeid = _current
        if nodeid:
            _seen.setdefault(nodeid, []).append(f"{checker}={verdict}")
    events.emit(
        events.CheckVerdict(
            checker=checker, verdict=verdict, detail=detail, nodeid=nodeid, timeline=timeline
        )
    )


def invalid(verdicts: list[str]) -> list[str]:
    """The checkers among ``checker=verdict`` strings that found their history invalid."""
    return [v.split("=", 1)[0] for v in verdicts if v.endswith("=invalid")]
