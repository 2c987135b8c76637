"""Helpers for driving the dashboard in tests (Textual's Pilot).

They live beside the tests, not in the installed package: they read the
recorded streams in tests/data.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.widgets import DataTable

from distlab.tui.app import DistlabApp
from distlab.tui.backend import ReplayBackend

DATA = Path(__file__).resolve().parent / "data"


def replay_app(name: str, **options: Any) -> DistlabApp:
    """The app on a recorded stream ``tests/data/events_<name>.jsonl`` (``idle``: no events)."""
    if name == "idle":
        return DistlabApp(IdleBackend(), **options)
    return DistlabApp(ReplayBackend(DATA / f"events_{name}.jsonl"), **options)


class IdleBackend(ReplayBackend):
    """Nothing to show yet: the dashboard as it opens, before any run."""

    runs_suites = True  # as `distlab` opens: `a` runs the suites

    def __init__(self) -> None:
        super().__init__(Path("events.jsonl"))
        self.name = "reference-system"

    def start(self, feed: Any) -> None:
        """Reads nothing."""


async def settle(app: DistlabApp, pilot: Any, timeout_s: float = 10.0) -> None:
    """Wait until the back end's reader is done and every event is applied and drawn."""
    deadline = time.monotonic() + timeout_s
    while not app.started.is_set() or app.backend.busy() or len(app.feed):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the feed did not drain in {timeout_s} s")
        await asyncio.sleep(0.01)
    app.flush_now()
    await pilot.pause()
    # A DataTable measures new rows and column widths only when its message
    # pump is idle; on a loaded machine a snapshot could be taken before that,
    # with a row cut to its column's old width ("unit" for "unit.pass_rate").
    while any(_measuring(table) for table in app.screen.query(DataTable)):
        if time.monotonic() > deadline:
            raise TimeoutError("a table did not finish measuring its rows")
        await pilot.pause(0.01)
    for widget in app.screen.query("*"):
        widget.refresh(layout=True)
    await pilot.pause()


def _measuring(table: DataTable[Any]) -> bool:
    # Textual keeps these private; they say an idle-time re-measure is pending.
    return bool(
        getattr(table, "_require_update_dimensions", False)
        or getattr(table, "_updated_cells", None)
    )


async def select_test(app: DistlabApp, pilot: Any, nodeid: str, timeout_s: float = 10.0) -> None:
    """Put the tree cursor on a test and wait until the detail pane shows it."""
    from distlab.tui.components.suites_tree import SuitesTree
    from distlab.tui.components.test_detail import TestDetail

    if not app.query_one(SuitesTree).select_test(nodeid):
        raise LookupError(f"{nodeid} is not in the tree (filtered out?)")
    deadline = time.monotonic() + timeout_s
    detail = app.query_one(TestDetail)
    while detail.test is None or detail.test.nodeid != nodeid:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the detail pane did not show {nodeid} in {timeout_s} s")
        await pilot.pause(0.01)
    await pilot.pause()


def pilot_test(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test body in its own event loop (no asyncio pytest plugin needed);
    pytest still sees the body's fixtures through ``functools.wraps``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))  # type: ignore[arg-type]

    return wrapper


def lab_config(tmp_path: Path) -> Path:
    """The shipped config for `distlab lab`, its sessions under ``tmp_path/runs``.

    The lab's client adapter is imported relative to the config's directory, so
    a one-line adapter beside it re-exports the reference system's (run the lab
    with ``PYTHONPATH`` set to the repository root).
    """
    root = Path(__file__).resolve().parents[1]
    config = tmp_path / "config.toml"
    config.write_text(
        (root / "config.toml")
        .read_text()
        .replace('run_dir = ".distlab/runs"', f'run_dir = "{tmp_path / "runs"}"')
        .replace(
            'client = "suites.support.refsys_client:adapter"', 'client = "lab_adapter:adapter"'
        )
    )
    (tmp_path / "lab_adapter.py").write_text("from suites.support.refsys_client import adapter\n")
    return config
