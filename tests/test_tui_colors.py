"""The layer bars on 16 colours and with NO_COLOR (issue 19 item 7).

Rich's bar drew done and to-go alike (``━``) and told them apart by colour alone:
on 16 colours its pink running part was the error's bright red and its green
finished part the same grey as the empty part, and NO_COLOR lost the difference
altogether. The bars are read here as the terminal gets them: the widget's lines
after the app's own filters (ANSI to the theme's RGB, NO_COLOR's monochrome),
then brought down to 16 colours as the driver does for
``TEXTUAL_COLOR_SYSTEM=standard``.
"""

from __future__ import annotations

from typing import Any

import pytest
from rich.color import ColorSystem
from textual.geometry import Region
from tui_helpers import pilot_test, replay_app, settle

from distlab.tui.components.layer_progress import DONE_GLYPH, TODO_GLYPH, LayerProgress

RED_16 = {1, 9}  # red and bright red


async def bar_rows(app: Any) -> dict[str, list[tuple[str, int | None]]]:
    """Each row of the layer panel: its bar as (glyph, 16-colour number) per cell."""
    widget = app.query_one(LayerProgress)
    width, height = widget.size
    rows: dict[str, list[tuple[str, int | None]]] = {}
    for strip in widget.render_lines(Region(0, 0, width, height)):
        cells: list[tuple[str, int | None]] = []
        for segment in strip:
            color = segment.style.color if segment.style else None
            number = color.downgrade(ColorSystem.STANDARD).number if color else None
            cells.extend((ch, number) for ch in segment.text)
        text = "".join(ch for ch, _ in cells)
        name = text.split()[0] if text.strip() else ""
        rows[name] = [(ch, n) for ch, n in cells if ch in (DONE_GLYPH, TODO_GLYPH)]
    return rows


def glyphs(bar: list[tuple[str, int | None]]) -> str:
    return "".join(ch for ch, _ in bar)


@pilot_test
async def test_running_bar_is_not_red_and_finished_bars_are_filled_on_16_colours() -> None:
    app = replay_app("running")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        rows = await bar_rows(app)
    # unit is done (6/6), chaos runs (1/6), performance has not started (0/0).
    unit, chaos, perf = rows["unit"], rows["chaos"], rows["performance"]
    assert glyphs(unit) == DONE_GLYPH * len(unit)
    assert glyphs(perf) == TODO_GLYPH * len(perf)
    done = [n for ch, n in chaos if ch == DONE_GLYPH]
    todo = [n for ch, n in chaos if ch == TODO_GLYPH]
    assert done and todo
    assert not set(done) & RED_16, f"running bar drawn in red on 16 colours: {set(done)}"
    # Filled means another colour than the empty part, not only another glyph.
    assert set(done).isdisjoint(todo)
    assert {n for _, n in unit}.isdisjoint(todo)


@pilot_test
async def test_with_no_color_done_and_to_go_differ_by_glyph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")  # read when the app is made
    app = replay_app("running")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        rows = await bar_rows(app)
    chaos = glyphs(rows["chaos"])
    # 1 of 6 done: a sixth of the bar heavy, the rest light.
    assert chaos == DONE_GLYPH * chaos.count(DONE_GLYPH) + TODO_GLYPH * chaos.count(TODO_GLYPH)
    assert 0 < chaos.count(DONE_GLYPH) < chaos.count(TODO_GLYPH)
    all_done = glyphs(rows["unit"])
    assert all_done and set(all_done) == {DONE_GLYPH}


async def mark_colors(app: Any, *widget_types: type) -> dict[str, set[int | None]]:
    """The 16-colour numbers the marks ✗ ✓ ~ are drawn in, as the terminal gets them."""
    seen: dict[str, set[int | None]] = {"✗": set(), "✓": set(), "~": set()}
    for widget_type in widget_types:
        widget = app.query_one(widget_type)
        width, height = widget.size
        for strip in widget.render_lines(Region(0, 0, width, height)):
            for segment in strip:
                color = segment.style.color if segment.style else None
                number = color.downgrade(ColorSystem.STANDARD).number if color else None
                for ch in segment.text:
                    if ch in seen:
                        seen[ch].add(number)
    return seen


@pilot_test
async def test_on_a_16_colour_terminal_marks_keep_their_colour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Textual's round trip of ANSI names through its theme's RGB drew a failure's
    # "bold red" magenta and a flaky test's "yellow" bright red on 16 colours;
    # there the names go to the terminal's own palette as they are.
    from textual import constants

    from distlab.tui.components.run_bar import RunBar
    from distlab.tui.components.suites_tree import SuitesTree

    monkeypatch.setattr(constants, "COLOR_SYSTEM", "standard")
    app = replay_app("running")
    assert app.ansi_color is True
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        marks = await mark_colors(app, RunBar, SuitesTree)
    assert marks["✗"] == {1}, marks  # red
    assert marks["✓"] == {2}, marks  # green
    assert marks["~"] == {3}, marks  # yellow


def test_a_truecolor_terminal_keeps_textuals_theme(monkeypatch: pytest.MonkeyPatch) -> None:
    from textual import constants

    monkeypatch.setattr(constants, "COLOR_SYSTEM", "truecolor")
    assert replay_app("running").ansi_color is not True


def test_no_color_on_16_colours_keeps_the_monochrome_greys(monkeypatch: pytest.MonkeyPatch) -> None:
    # NO_COLOR's monochrome filter turns ANSI colour names into black on black.
    from textual import constants

    monkeypatch.setattr(constants, "COLOR_SYSTEM", "standard")
    monkeypatch.setenv("NO_COLOR", "1")
    assert replay_app("running").ansi_color is not True
