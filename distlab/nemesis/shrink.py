"""Shrinking: the smallest schedule that still makes a test fail, within a time budget.

Delta debugging (Zeller's ddmin) over the faults, then shorter faults, then
earlier ones. ``still_fails(schedule) -> bool`` is the expensive part (it runs
the system), so every candidate is tried at most once and the search stops
at the budget with the best schedule found so far. Chaos runs are noisy: a
candidate that passes once is treated as passing, so the result is a schedule
that *did* fail, never a guess.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from distlab.nemesis.faults import KINDS, Fault
from distlab.nemesis.schedule import Schedule

StillFails = Callable[[Schedule], bool]

# Faults are not shortened or moved below this: a fault needs a moment to bite.
MIN_DURATION_S = 0.5


@dataclass
class ShrinkResult:
    """The schedule we started from, the smallest that still failed, and how we got there."""

    original: Schedule
    minimal: Schedule
    trials: int
    elapsed_s: float
    out_of_budget: bool
    steps: list[str] = field(default_factory=list)

    def regression(self) -> str:
        """Python to paste into a regression test: the minimal schedule and its seed."""
        return (
            f"# shrunk from {len(self.original)} to {len(self.minimal)} fault(s) in {self.trials} trials; "
            f"seed {self.minimal.seed}\n"
            "from distlab.nemesis import Schedule\n"
            f"SCHEDULE = Schedule.from_json('''{self.minimal.to_json()}''')\n"
        )


class _Search:
    def __init__(self, still_fails: StillFails, budget_s: float, max_trials: int | None) -> None:
        self.still_fails = still_fails
        self.deadline = time.monotonic() + budget_s
        self.max_trials = max_trials
        self.trials = 0
        self.seen: dict[str, bool] = {}
        self.steps: list[str] = []

    def out(self) -> bool:
        return time.monotonic() >= self.deadline or (
            self.max_trials is not None and self.trials >= self.max_trials
        )

    def fails(self, candidate: Schedule, what: str) -> bool:
        key = candidate.to_json()
        if key in self.seen:
            return self.seen[key]
        if self.out():
            return False
        self.trials += 1
        result = bool(self.still_fails(candidate))
        self.seen[key] = result
        self.steps.append(f"{'fails' if result else 'passes'}: {what} ({len(candidate)} faults)")
        return result


def _ddmin(search: _Search, schedule: Schedule) -> Schedule:
    faults = list(schedule.faults)
    n = 2
    while len(faults) >= 2 and not search.out():
        size = len(faults) // n
        chunks = [faults[i * size : (i + 1) * size if i < n - 1 else len(faults)] for i in range(n)]
        reduced = False
        for i, chunk in enumerate(chunks):  # a chunk alone
            if search.fails(schedule.with_faults(chunk), f"keep part {i + 1}/{n}"):
                faults, n, reduced = chunk, 2, True
                break
        if not reduced:
            for i in range(n):  # everything but a chunk
                rest = [f for j, c in enumerate(chunks) if j != i for f in c]
                if search.fails(schedule.with_faults(rest), f"drop part {i + 1}/{n}"):
                    faults, n, reduced = rest, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(faults):
                break
            n = min(len(faults), n * 2)
    return schedule.with_faults(faults)


def _shorten(search: _Search, schedule: Schedule) -> Schedule:
    current = schedule
    for i in range(len(current.faults)):
        while not search.out():
            f = current.faults[i]
            if not KINDS[f.kind].lasting or f.duration_s / 2 < MIN_DURATION_S:
                break
            candidate = _replace_at(current, i, replace(f, duration_s=round(f.duration_s / 2, 3)))
            if not search.fails(candidate, f"halve {f.kind} to {f.duration_s / 2:g} s"):
                break
            current = candidate
    return current


def _earlier(search: _Search, schedule: Schedule) -> Schedule:
    current = schedule
    if current.faults and current.faults[0].at_s > MIN_DURATION_S:
        shift = current.faults[0].at_s - MIN_DURATION_S
        moved = current.with_faults(
            replace(f, at_s=round(f.at_s - shift, 3)) for f in current.faults
        )
        if search.fails(moved, f"move all {shift:g} s earlier"):
            current = moved
    for i in range(len(current.faults)):
        while not search.out():
            f = current.faults[i]
            target = round(f.at_s / 2, 3)
            if f.at_s - target < 0.25:
                break
            candidate = _replace_at(current, i, replace(f, at_s=target))
            if not search.fails(candidate, f"move {f.kind} to {target:g} s"):
                break
            current = candidate
    return current


def _replace_at(schedule: Schedule, index: int, fault: Fault) -> Schedule:
    faults = list(schedule.faults)
    faults[index] = fault
    return schedule.with_faults(faults)


def shrink(
    schedule: Schedule,
    still_fails: StillFails,
    *,
    budget_s: float = 120.0,
    max_trials: int | None = None,
) -> ShrinkResult:
    """Search a smaller schedule that still fails: drop faults, shorten them, move them earlier."""
    started = time.monotonic()
    search = _Search(still_fails, budget_s, max_trials)
    best = _ddmin(search, schedule)
    best = _shorten(search, best)
    best = _earlier(search, best)
    return ShrinkResult(
        original=schedule,
        minimal=best,
        trials=search.trials,
        elapsed_s=time.monotonic() - started,
        out_of_budget=search.out(),
        steps=search.steps,
    )
