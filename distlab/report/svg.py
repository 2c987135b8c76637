"""Small SVG pieces for the run report's charts: scales, axes, shapes, paths.

Every function returns SVG markup as a string, and every text it is given is
escaped here, so a caller cannot forget to. No scripts, no external
references: the page must open from a CI artifact with no network.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WIDTH = 1200  # every chart's viewBox width; the page scales them to its width
LEFT = 150  # the label column left of every plot
RIGHT = WIDTH - 16


def esc(text: object) -> str:
    """``text`` escaped for SVG/HTML text and attribute values."""
    return html.escape(str(text), quote=True)


@dataclass(frozen=True)
class TimeScale:
    """Seconds (event ``ts``) to x pixels; every chart of a page shares one."""

    t0: float
    t1: float
    left: float = LEFT
    right: float = RIGHT

    def x(self, t: float) -> float:
        span = max(self.t1 - self.t0, 1e-9)
        t = min(max(t, self.t0), self.t1)
        return self.left + (t - self.t0) / span * (self.right - self.left)


@dataclass(frozen=True)
class LinearScale:
    """Values to y pixels, ``lo`` at the bottom."""

    lo: float
    hi: float
    top: float
    bottom: float

    def y(self, v: float) -> float:
        span = max(self.hi - self.lo, 1e-12)
        v = min(max(v, self.lo), self.hi)
        return self.bottom - (v - self.lo) / span * (self.bottom - self.top)


@dataclass(frozen=True)
class LogScale:
    """Positive values to y pixels on a log10 axis (latency spans 0.1 ms to seconds)."""

    lo: float
    hi: float
    top: float
    bottom: float

    def y(self, v: float) -> float:
        a, b = math.log10(self.lo), math.log10(self.hi)
        v = math.log10(min(max(v, self.lo), self.hi))
        return self.bottom - (v - a) / max(b - a, 1e-12) * (self.bottom - self.top)


def nice_step(span: float, ticks: int = 8) -> float:
    """A round spacing (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks."""
    raw = max(span / ticks, 1e-9)
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5):
        if m * power >= raw:
            return m * power
    return 10 * power


def nice_ceiling(v: float) -> float:
    """The smallest round number (1, 2 or 5 times a power of ten) at or above ``v``."""
    if v <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 5, 10):
        if m * power >= v * (1 - 1e-9):
            return m * power
    return 10 * power


# Tick spacings a reader counts in: seconds, then whole minutes, then hours.
_TIME_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)


def clock(seconds: float, minutes: bool = False) -> str:
    """Seconds since the run began, as an axis label: ``45 s``, or ``2:05`` and
    ``1:02:05`` on an axis that reaches a minute (``minutes``)."""
    s = round(seconds)
    if not minutes:
        return f"{s} s"
    sign, s = ("-" if s < 0 else ""), abs(s)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return sign + (f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}")


def number(v: float) -> str:
    """A value label without noise digits."""
    return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"


def time_axis(scale: TimeScale, origin: float, y: float) -> str:
    """Ticks along ``y`` labelled in time since ``origin`` (the run's start)."""
    raw = (scale.t1 - scale.t0) / 10
    step = next((float(s) for s in _TIME_STEPS if s >= raw), nice_step(scale.t1 - scale.t0))
    minutes = scale.t1 - origin >= 60
    out = [line(scale.left, y, scale.right, y, "axis")]
    tick = math.ceil((scale.t0 - origin) / step) * step + origin
    while tick <= scale.t1 + 1e-9:
        x = scale.x(tick)
        out.append(line(x, y, x, y + 4, "axis"))
        out.append(text(x, y + 16, clock(tick - origin, minutes), anchor="middle", cls="tick"))
        tick += step
    return "".join(out)


def value_axis(
    ticks: Iterable[float], y_of: LinearScale | LogScale, unit: str, left: float = LEFT
) -> str:
    """Horizontal grid lines with labels left of the plot."""
    out = []
    for v in ticks:
        y = y_of.y(v)
        out.append(line(left, y, RIGHT, y, "grid"))
        out.append(text(left - 6, y + 4, f"{number(v)}{unit}", anchor="end", cls="tick"))
    return "".join(out)


def linear_ticks(hi: float, count: int = 4) -> list[float]:
    """0 and round steps up to ``hi``."""
    step = nice_step(hi, count)
    return [i * step for i in range(int(hi / step + 1e-9) + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """The powers of ten from ``lo`` to ``hi``."""
    a, b = round(math.log10(lo)), round(math.log10(hi))
    return [10.0**e for e in range(a, b + 1)]


def svg(width: float, height: float, body: Sequence[str] | str, label: str) -> str:
    """An inline ``<svg>`` that scales to the page width, with an accessible label."""
    inner = body if isinstance(body, str) else "".join(body)
    return (
        f"<svg viewBox='0 0 {width:.0f} {height:.0f}' role='img' aria-label='{esc(label)}' "
        f"preserveAspectRatio='xMinYMin meet'>{inner}</svg>"
    )


def rect(
    x: float,
    y: float,
    w: float,
    h: float,
    *,
    cls: str = "",
    fill: str = "",
    title: str = "",
) -> str:
    """A rectangle (at least a hairline wide), with a hover title when given."""
    attrs = f" class='{esc(cls)}'" if cls else ""
    attrs += f" fill='{esc(fill)}'" if fill else ""
    tip = f"<title>{esc(title)}</title>" if title else ""
    close = f">{tip}</rect>" if tip else "/>"
    return (
        f"<rect x='{x:.1f}' y='{y:.1f}' width='{max(w, 0.8):.1f}' height='{max(h, 0):.1f}'"
        f"{attrs}{close}"
    )


def line(x1: float, y1: float, x2: float, y2: float, cls: str = "") -> str:
    attrs = f" class='{esc(cls)}'" if cls else ""
    return f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}'{attrs}/>"


def text(x: float, y: float, content: object, *, anchor: str = "start", cls: str = "") -> str:
    attrs = f" class='{esc(cls)}'" if cls else ""
    return f"<text x='{x:.1f}' y='{y:.1f}' text-anchor='{anchor}'{attrs}>{esc(content)}</text>"


def polyline(points: Sequence[tuple[float, float]], cls: str, title: str = "") -> str:
    """An open path through ``points`` (pixels); nothing for fewer than one point."""
    if not points:
        return ""
    if max(x for x, _ in points) - min(x for x, _ in points) < 1:
        # A lone sample (or a few within a pixel): a dot, not an invisible line.
        x, y = points[-1]
        tip = f"<title>{esc(title)}</title>" if title else ""
        return f"<circle cx='{x:.1f}' cy='{y:.1f}' r='2' class='{esc(cls)} dot'>{tip}</circle>"
    d = "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in points)
    tip = f"<title>{esc(title)}</title>" if title else ""
    return f"<path d='{d}' class='{esc(cls)}'>{tip}</path>"


def area(points: Sequence[tuple[float, float]], base: float, cls: str) -> str:
    """The region between ``points`` and the horizontal line ``y = base``."""
    if len(points) < 2:
        return ""
    d = f"M{points[0][0]:.1f},{base:.1f}L" + "L".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f"<path d='{d}L{points[-1][0]:.1f},{base:.1f}Z' class='{esc(cls)}'/>"
