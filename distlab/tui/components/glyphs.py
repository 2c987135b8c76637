"""Outcome and state marks that read without colour (NO_COLOR, screen readers of logs)."""

from __future__ import annotations

OUTCOME_MARK = {
    "passed": ("✓", "green"),
    "failed": ("✗", "bold red"),
    "error": ("E", "bold red"),
    "flaky": ("~", "yellow"),
    "skipped": ("s", "dim"),
    "running": ("»", "bold cyan"),  # not ▶: the tree draws that for a folded node
    "pending": ("·", "dim"),
}

# The per-layer tallies, in the order they are shown: (count key, glyph, style).
COUNT_MARKS = (
    ("passed", "✓", "green"),
    ("failed", "✗", "red"),
    ("error", "E", "red"),
    ("flaky", "~", "yellow"),
    ("skipped", "s", "dim"),
    ("running", "»", "cyan"),
)

LAYER_STATUS_STYLE = {
    "idle": "dim",
    "running": "bold cyan",
    "passed": "green",
    "failed": "bold red",
    "error": "bold red",
    "timeout": "bold red",
    "empty": "yellow",
    "stopped": "yellow",
}

NODE_STATE_STYLE = {
    "up": "green",
    "starting": "cyan",
    "paused": "yellow",
    "down": "dim",
    "crashed": "bold red",
}


def mark(outcome: str) -> tuple[str, str]:
    """(glyph, style) of a test outcome."""
    return OUTCOME_MARK.get(outcome, ("?", ""))


def duration(seconds: float | None) -> str:
    """A short human duration: 0.42s, 3m05s, 1h02m."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.0f}s"
    m, s = divmod(int(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def size(n: int | None) -> str:
    """Bytes as KiB/MiB."""
    if n is None:
        return "-"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f}K"
    return f"{n / 1024 / 1024:.1f}M"
