"""Stats of a history: throughput, latency per ``f``, outcome rates, and how the
system fared inside and outside fault windows.

Fault windows are spans of history time (ns) during which a fault was in
effect. They come either explicitly, as ``[(start_ns, end_ns), ...]``, or
from fault markers in the history itself (Jepsen's convention: records of
process ``"nemesis"``):

    {"process": "nemesis", "type": "info", "f": "fault.start", "value": {"id": "f1", "fault": "partition"}, "time": ...}
    {"process": "nemesis", "type": "info", "f": "fault.end", "value": {"id": "f1"}, "time": ...}

Faults are matched by ``value.id``; a window is any span where at least one
fault is open. Jepsen-style ``start-partition`` / ``stop-partition`` pairs
(``f`` beginning with ``start`` / ``stop`` or ``heal``) are read the same way,
matched by the rest of ``f``; for those a ``stop`` counts once completed.

Definitions:
- latency: invoke to completion of ``ok`` and ``fail`` ops (an ``info`` op's
  real latency is unknown, so it is left out); percentiles are nearest-rank;
- availability: the share of ops invoked in a span that completed ``ok``;
- recovery time after a heal: from the end of a window to the first ``ok``
  completion after which every op invoked for ``sustain_s`` succeeds
  (``None``: it never recovered before the next fault or the end). Success
  means ``ok`` by default; a workload whose ops fail legitimately (a cas
  whose compare did not match) passes ``success=("ok", "fail")`` so that only
  unknown outcomes (timeouts) count against recovery.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from distlab.checkers.history import History, NemesisRecord, Op
from distlab.checkers.values import FrozenObject

NS = 1_000_000_000
Window = tuple[float, float]


@dataclass
class Latency:
    """Counts and latency figures for one ``f``."""

    f: str
    count: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None


@dataclass
class Stats:
    """Everything ``history_stats`` measured."""

    ops: int
    ok: int
    fail: int
    info: int
    duration_s: float
    by_f: dict[str, Latency] = field(default_factory=dict)
    per_second: list[tuple[int, int, int, int]] = field(default_factory=list)  # (s, ok, fail, info)
    availability: float | None = None
    windows: list[Window] = field(default_factory=list)
    availability_in_faults: float | None = None
    availability_outside_faults: float | None = None
    recovery_s: list[float | None] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        """ok ops per second over the whole history."""
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0

    def lines(self) -> list[str]:
        """The stats as text lines for the terminal."""
        out = [
            f"ops {self.ops}: ok {self.ok}, fail {self.fail}, info {self.info}; "
            f"{self.duration_s:.2f} s, {self.throughput:.1f} ok/s"
        ]
        for lat in self.by_f.values():
            figs = (
                f"p50 {_ms(lat.p50_ms)} p95 {_ms(lat.p95_ms)} p99 {_ms(lat.p99_ms)} "
                f"max {_ms(lat.max_ms)} ms"
            )
            out.append(
                f"  {lat.f:<10} {lat.count:>7} ops  ok {lat.ok} fail {lat.fail} info {lat.info}  {figs}"
            )
        if self.windows:
            out.append(
                f"fault windows {len(self.windows)}: availability inside "
                f"{_pct(self.availability_in_faults)}, outside {_pct(self.availability_outside_faults)}"
            )
            rec = ", ".join("never" if r is None else f"{r:.3f} s" for r in self.recovery_s)
            out.append(f"recovery after heal: {rec}")
        elif self.availability is not None:
            out.append(f"availability {_pct(self.availability)} (no fault windows)")
        return out

    def metrics(self) -> dict[str, float]:
        """Flat figures for the ``metric`` fixture and the gates, e.g. ``ok_per_s``,
        ``availability``, ``write.p95_ms``, ``recovery_s_max`` (absent when unknown)."""
        out: dict[str, float | None] = {
            "ok_per_s": self.throughput,
            "availability": self.availability,
            "availability_in_faults": self.availability_in_faults,
            "availability_outside_faults": self.availability_outside_faults,
        }
        for f, lat in self.by_f.items():
            out[f"{f}.p50_ms"] = lat.p50_ms
            out[f"{f}.p95_ms"] = lat.p95_ms
            out[f"{f}.p99_ms"] = lat.p99_ms
            out[f"{f}.max_ms"] = lat.max_ms
        if self.recovery_s and None not in self.recovery_s:
            out["recovery_s_max"] = max(r for r in self.recovery_s if r is not None)
        return {k: float(v) for k, v in out.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ops": self.ops,
            "ok": self.ok,
            "fail": self.fail,
            "info": self.info,
            "duration_s": self.duration_s,
            "throughput": self.throughput,
            "by_f": {f: vars(lat) for f, lat in self.by_f.items()},
            "availability": self.availability,
            "windows": [list(w) for w in self.windows],
            "availability_in_faults": self.availability_in_faults,
            "availability_outside_faults": self.availability_outside_faults,
            "recovery_s": self.recovery_s,
        }


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (``q`` in 0..100)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def fault_windows(records: Sequence[NemesisRecord], end: float) -> list[Window]:
    """Windows from fault markers; a fault still open at the end closes at ``end``."""
    open_ids: dict[Any, float] = {}
    windows: list[Window] = []
    window_start: float | None = None
    for rec in sorted(records, key=lambda r: r.time):
        kind, ident = _marker(rec)
        if kind == "start":
            if window_start is None:
                window_start = rec.time
            open_ids.setdefault(ident, rec.time)
        elif kind == "end" and rec.type != "invoke":
            open_ids.pop(ident, None)
            if not open_ids and window_start is not None:
                windows.append((window_start, rec.time))
                window_start = None
    if window_start is not None:
        windows.append((window_start, max(end, window_start)))
    return windows


def _marker(rec: NemesisRecord) -> tuple[str, Any]:
    f = rec.f
    value = rec.value
    ident = dict(value).get("id") if isinstance(value, FrozenObject) else None
    if f == "fault.start":
        return "start", ident
    if f == "fault.end":
        return "end", ident
    if f.startswith("start"):
        return "start", f[len("start") :].lstrip("-_")
    for prefix in ("stop", "heal"):
        if f.startswith(prefix):
            return "end", f[len(prefix) :].lstrip("-_")
    return "other", None


def history_stats(
    history: History,
    windows: Sequence[Window] | None = None,
    *,
    sustain_s: float = 1.0,
    success: Sequence[str] = ("ok",),
) -> Stats:
    """Measure a history; ``windows`` overrides the fault markers in it."""
    ops = history.ops
    end = history.end_time()
    if windows is None:
        windows = fault_windows(history.nemesis, end)
    windows = sorted(windows)
    start = min((op.call for op in ops), default=0)
    n_ok = sum(op.type == "ok" for op in ops)
    n_fail = sum(op.type == "fail" for op in ops)
    stats = Stats(len(ops), n_ok, n_fail, len(ops) - n_ok - n_fail, (end - start) / NS)
    stats.by_f = _latencies(ops)
    stats.per_second = _per_second(ops, start)
    stats.availability = n_ok / len(ops) if ops else None
    stats.windows = list(windows)
    if windows:
        inside = [op for op in ops if _in_windows(op.call, windows)]
        outside = [op for op in ops if not _in_windows(op.call, windows)]
        stats.availability_in_faults = _share_ok(inside)
        stats.availability_outside_faults = _share_ok(outside)
        stats.recovery_s = _recoveries(ops, windows, sustain_s, success)
    return stats


def _latencies(ops: Sequence[Op]) -> dict[str, Latency]:
    by_f: dict[str, Latency] = {}
    samples: dict[str, list[float]] = {}
    for op in ops:
        lat = by_f.setdefault(op.f, Latency(op.f))
        lat.count += 1
        if op.type == "ok":
            lat.ok += 1
        elif op.type == "fail":
            lat.fail += 1
        else:
            lat.info += 1
        if op.ret is not None:
            samples.setdefault(op.f, []).append((op.ret - op.call) / 1e6)
    for f, values in samples.items():
        values.sort()
        lat = by_f[f]
        lat.p50_ms = percentile(values, 50)
        lat.p95_ms = percentile(values, 95)
        lat.p99_ms = percentile(values, 99)
        lat.max_ms = values[-1]
    return dict(sorted(by_f.items()))


def _per_second(ops: Sequence[Op], start: float) -> list[tuple[int, int, int, int]]:
    buckets: dict[int, list[int]] = {}
    for op in ops:
        if op.end is None:
            continue
        s = int((op.end - start) // NS)
        b = buckets.setdefault(s, [0, 0, 0])
        b[0 if op.type == "ok" else 1 if op.type == "fail" else 2] += 1
    if not buckets:
        return []
    return [(s, *buckets.get(s, [0, 0, 0])) for s in range(max(buckets) + 1)]  # type: ignore[misc]


def _in_windows(t: float, windows: Sequence[Window]) -> bool:
    return any(a <= t <= b for a, b in windows)


def _share_ok(ops: Sequence[Op]) -> float | None:
    return sum(op.type == "ok" for op in ops) / len(ops) if ops else None


def _recoveries(
    ops: Sequence[Op], windows: Sequence[Window], sustain_s: float, success: Sequence[str]
) -> list[float | None]:
    sustain = sustain_s * NS
    bad_calls = sorted(op.call for op in ops if op.type not in success)
    ok_ends = sorted(op.end for op in ops if op.type == "ok" and op.end is not None)
    out: list[float | None] = []
    for n, (_, heal) in enumerate(windows):
        limit = windows[n + 1][0] if n + 1 < len(windows) else math.inf
        found: float | None = None
        for t in ok_ends[bisect.bisect_left(ok_ends, heal) :]:
            if t >= limit:
                break
            # sustained: no op invoked in [t, t + sustain) ended without success
            i = bisect.bisect_left(bad_calls, t)
            if i == len(bad_calls) or bad_calls[i] >= min(t + sustain, limit):
                found = (t - heal) / NS
                break
        out.append(found)
    return out
