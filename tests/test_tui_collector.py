"""While the dashboard's event pump runs, the heap it started with is frozen and young
collections wait longer (distlab/tui/collector.py); leaving puts both back."""

from __future__ import annotations

import gc

from tui_helpers import pilot_test, replay_app, settle

from distlab.tui.collector import YOUNG_THRESHOLD


@pilot_test
async def test_the_pump_freezes_the_heap_and_leaving_restores_the_collector() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    app = replay_app("finished")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == max(YOUNG_THRESHOLD, before[0])
        assert gc.get_threshold()[1:] == before[1:]
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
