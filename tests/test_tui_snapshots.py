"""SVG snapshots of the dashboard's main states at 80x24 and 160x48.

Fed recorded streams with fixed timestamps (bench/tui_events.py), so every
figure on screen is the same on every run. Update after an intended change:
``pytest tests/test_tui_snapshots.py --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from typing import Any

import pytest
from tui_helpers import replay_app, select_test, settle

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]

# state name -> (recorded stream, tab, select the first failure?)
STATES = {
    "idle": ("idle", "suites", False),
    "running": ("running", "suites", False),
    "failure_selected": ("finished", "suites", True),
    "partitioned": ("partitioned", "cluster", False),
    "gates_failed": ("finished", "gates", False),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("state", list(STATES))
def test_snapshot(snap_compare: Any, state: str, size: tuple[int, int]) -> None:
    stream, tab, select_failure = STATES[state]
    app = replay_app(stream, initial_tab=tab)

    async def prepare(pilot: Any) -> None:
        await settle(app, pilot)
        if select_failure:
            await select_test(app, pilot, app.state.failures()[0].nodeid)

    assert snap_compare(app, terminal_size=size, run_before=prepare)
