"""Where warnings show: a toast must not cover the fault timeline (issue 19 item 7).

Textual docks its toasts bottom right, which is where the fault timeline sits
on the Cluster tab (beside the partition view when wide, below it when narrow)
and on the Throughput tab; a warning there hid the faults it was about. The
toasts sit top right instead, below the run bar, whose verdict stays seen.
"""

from __future__ import annotations

import time

import pytest
from textual.widgets import Footer
from textual.widgets._toast import Toast
from tui_helpers import pilot_test, replay_app, settle

from distlab.events import Log
from distlab.tui.components.fault_timeline import FaultTimeline
from distlab.tui.components.run_bar import RunBar

# As long as a real one: a report that could not be written.
WARNING = "cannot write .distlab/runs/20261202-062749-5/junit.xml: No space left on device"


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize("tab", ["cluster", "throughput"])
@pilot_test
async def test_a_warning_toast_covers_neither_the_fault_timeline_nor_the_verdict(
    tab: str, size: tuple[int, int]
) -> None:
    app = replay_app("partitioned", initial_tab=tab)
    async with app.run_test(size=size, notifications=True) as pilot:  # off by default
        await settle(app, pilot)
        timelines = [t for t in app.screen.query(FaultTimeline) if t.display and t.region]
        assert timelines, "no fault timeline on screen"
        for i in range(3):  # a burst: one counted toast
            app.feed.push(Log(level="warning", source="test", message=f"{WARNING} ({i})"))
        app.flush_now()
        deadline = time.monotonic() + 10
        while not [t for t in app.screen.query(Toast) if t.region]:
            assert time.monotonic() < deadline, "no toast shown"
            await pilot.pause(0.01)
        await pilot.pause()
        (toast,) = [t for t in app.screen.query(Toast) if t.region]
        assert "(+2 more)" in str(toast.render())
        for timeline in timelines:
            assert not toast.region.overlaps(timeline.region), (toast.region, timeline.region)
        assert not toast.region.overlaps(app.query_one(RunBar).region)
        assert not toast.region.overlaps(app.query_one(Footer).region)
