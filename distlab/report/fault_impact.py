"""How each fault window went for the workload: availability and recovery.

Measured on the workload's live samples (``workload.sample``: the
completions of the last second or so), the same events the dashboard's
throughput chart draws, so every figure here is good to about a second.
The words are the checkers' (``distlab.checkers.stats``): *availability* is
the share of completed ops that were ``ok``. The run report prints
``DEFINITIONS`` beside the figures.
"""

from __future__ import annotations

import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from distlab.events import WorkloadSample
from distlab.report.run_digest import RunDigest, TestSpan
from distlab.tui.state import FaultWindow

BASELINE_S = 10.0  # the seconds before a fault whose throughput it must come back to
BACK_SHARE = 0.8  # "back": at least this share of that throughput ...
SUSTAIN = 2  # ... in this many samples in a row

DEFINITIONS = (
    (
        "availability",
        "ok ÷ (ok + fail + unknown) over the ops that completed while the "
        "fault was in effect (the workload samples taken from its start to its end); "
        "'before' is the same over the 10 s before it began.",
    ),
    (
        "first ok",
        "time from the fault's end to the end of the first one-second sample "
        "after it that counted an ok op: an upper bound, good to about a second. For a fault "
        "that ends at once (an instant fault), that is from its start.",
    ),
    (
        "throughput back",
        "time from the fault's end until ok ops per second are back to "
        f"at least {BACK_SHARE:.0%} of their median over the {BASELINE_S:.0f} s before the "
        f"fault began, for {SUSTAIN} samples in a row (the time of the first of them).",
    ),
)


@dataclass(frozen=True)
class FaultImpact:
    """What one fault window did to the workload that was running."""

    window: FaultWindow
    test: str  # the test it happened in ("" when none was running)
    ok: int  # completions while it was in effect
    completions: int
    samples: int  # workload samples taken while it was in effect
    ok_before: int  # completions in the BASELINE_S before it
    completions_before: int
    first_ok_s: float | None
    back_s: float | None
    why_no_first_ok: str = ""  # when first_ok_s is None
    why_not_back: str = ""  # when back_s is None

    @property
    def availability(self) -> float | None:
        return self.ok / self.completions if self.completions else None

    @property
    def availability_before(self) -> float | None:
        return self.ok_before / self.completions_before if self.completions_before else None


def ok_per_s(sample: WorkloadSample) -> float:
    """The sample's ok completions per second."""
    total = sample.ok + sample.fail + sample.info
    return sample.ops_per_s * sample.ok / total if total else 0.0


def measure(digest: RunDigest) -> list[FaultImpact]:
    """One ``FaultImpact`` per fault window of the run, in order of their start."""
    samples = _Samples(digest.samples)
    starts = sorted(w.start for w in digest.faults)
    return [_measure(w, samples, starts, digest) for w in digest.faults]


class _Samples:
    """Workload samples in time order, cut into spans by bisection (an hour of
    samples times hundreds of fault windows must not be a quadratic scan)."""

    def __init__(self, samples: Sequence[WorkloadSample]) -> None:
        self.samples = sorted(samples, key=lambda s: s.ts)
        self.times = [s.ts for s in self.samples]

    def after(self, lo: float, hi: float) -> list[WorkloadSample]:
        """Samples with ``lo < ts <= hi``."""
        return self.samples[bisect_right(self.times, lo) : bisect_right(self.times, hi)]

    def from_(self, lo: float, hi: float) -> list[WorkloadSample]:
        """Samples with ``lo <= ts <= hi``."""
        return self.samples[bisect_left(self.times, lo) : bisect_right(self.times, hi)]


def _measure(
    window: FaultWindow, samples: _Samples, starts: Sequence[float], d: RunDigest
) -> FaultImpact:
    test = d.test_at(window.start)
    # Recovery is looked for only while the same test ran: the next test's
    # workload, on a fresh cluster, says nothing about this fault.
    horizon = _horizon(test, d)
    end = window.end if window.end is not None else horizon
    during = samples.after(window.start, end)
    lo = window.start - BASELINE_S
    before = samples.from_(max(lo, test.start) if test is not None else lo, window.start)
    after = samples.after(end, horizon)
    first_ok, why_first = _first_ok(window, after)
    back, why_back = _back(window, before, after, starts)
    return FaultImpact(
        window=window,
        test=test.nodeid if test is not None else "",
        ok=sum(s.ok for s in during),
        completions=sum(s.ok + s.fail + s.info for s in during),
        samples=len(during),
        ok_before=sum(s.ok for s in before),
        completions_before=sum(s.ok + s.fail + s.info for s in before),
        first_ok_s=first_ok,
        back_s=back,
        why_no_first_ok=why_first,
        why_not_back=why_back,
    )


def _horizon(test: TestSpan | None, d: RunDigest) -> float:
    if test is not None and test.end is not None:
        return test.end
    return d.end


def _first_ok(window: FaultWindow, after: Sequence[WorkloadSample]) -> tuple[float | None, str]:
    if window.end is None:
        return None, "the fault never ended"
    if not after:
        return None, "no workload ran after it"
    for s in after:
        if s.ok:
            return s.ts - window.end, ""
    return None, "no ok op before the workload (or its test) ended"


def _back(
    window: FaultWindow,
    before: Sequence[WorkloadSample],
    after: Sequence[WorkloadSample],
    starts: Sequence[float],
) -> tuple[float | None, str]:
    if window.end is None:
        return None, "the fault never ended"
    rates = [ok_per_s(s) for s in before]
    if not rates or statistics.median(rates) <= 0:
        return None, "no ok throughput before it to come back to"
    target = BACK_SHARE * statistics.median(rates)
    next_fault = min((t for t in starts if t > window.end), default=None)
    run = 0
    for i, s in enumerate(after):
        if next_fault is not None and s.ts > next_fault:
            return None, "not back before the next fault began"
        run = run + 1 if ok_per_s(s) >= target else 0
        if run == SUSTAIN:
            return after[i - SUSTAIN + 1].ts - window.end, ""
    if not after:
        return None, "no workload ran after it"
    return None, "not back before the workload (or its test) ended"
