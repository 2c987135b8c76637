"""One test's outcome, duration, place, message, traceback and captured output."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from distlab.tui.components.glyphs import mark
from distlab.tui.state import TestInfo

FAILURES_LISTED = 20


def render_failures(failures: list[TestInfo], limit: int = FAILURES_LISTED) -> RenderableType:
    """What the detail pane shows before a test is selected: the failures so far."""
    if not failures:
        return Text("Select a test to see its outcome, output and traceback.", style="dim")
    lines = [Text(f"{len(failures)} failing (select one for its traceback):", style="bold red")]
    for t in failures[:limit]:
        glyph, style = mark(t.outcome)
        first = t.message.splitlines()[0] if t.message else ""
        lines.append(Text.assemble((glyph, style), f" {t.layer}: {t.name}  ", (first, "dim")))
    if len(failures) > limit:
        lines.append(Text(f"... and {len(failures) - limit} more (/ outcome:failed)", style="dim"))
    return Group(*lines)


def render_test(test: TestInfo | None, *, theme: str = "ansi_dark") -> RenderableType:
    """A test as rich renderables (also used by the full-screen failure view)."""
    if test is None:
        return Text("Select a test to see its outcome, output and traceback.", style="dim")
    glyph, style = mark(test.outcome)
    parts: list[RenderableType] = [
        Text.assemble((f"{glyph} {test.outcome.upper()}", style), "  ", (test.name, "bold")),
        Text.assemble(
            ("layer ", "dim"),
            test.layer,
            ("  file ", "dim"),
            f"{test.file or test.module}:{test.line or '?'}",
            ("  duration ", "dim"),
            "-" if test.duration_s is None else f"{test.duration_s:.3f}s",
        ),
    ]
    if test.markers:
        parts.append(Text.assemble(("markers ", "dim"), ", ".join(test.markers)))
    if test.message:
        parts.append(Text(test.message, style="bold red" if test.failing else ""))
    if test.longrepr:
        parts.append(Text("traceback", style="bold underline"))
        # pytest's long repr is source lines with > and E markers: Python lexing reads well.
        lexer = "pytb" if test.longrepr.startswith("Traceback") else "python"
        parts.append(
            Syntax(test.longrepr, lexer, theme=theme, word_wrap=True, background_color="default")
        )
    for title, text in (("captured stdout", test.stdout), ("captured stderr", test.stderr)):
        if text:
            parts.append(Text(title, style="bold underline"))
            parts.append(Text(text.rstrip("\n")))
    return Group(*parts)


class TestDetail(VerticalScroll):
    """The selected test, scrollable."""

    __test__ = False

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.test: TestInfo | None = None
        self.can_focus = True
        # What show_failures last drew: how many failures, and the ones listed.
        self._count = -1
        self._listed: tuple[tuple[str, str, str], ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static(render_test(None), id="detail-body")

    def show(self, test: TestInfo | None) -> None:
        """Show ``test``."""
        self.test = test
        self._listed = None
        self.query_one("#detail-body", Static).update(render_test(test))

    def show_failures(self, failures: list[TestInfo]) -> None:
        """No test selected: list the failures instead."""
        self.test = None
        # Asked after every batch of outcomes: redraw only on a change, and lay the
        # screen out again only when the lines listed changed (past FAILURES_LISTED,
        # a new failure changes the counts, not the height).
        listed = tuple((t.nodeid, t.outcome, t.message) for t in failures[:FAILURES_LISTED])
        if (len(failures), listed) == (self._count, self._listed):
            return
        body = self.query_one("#detail-body", Static)
        body.update(render_failures(failures), layout=listed != self._listed)
        self._count, self._listed = len(failures), listed
