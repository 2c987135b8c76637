"""Linearizability of a whole history: split per key, search each key, compose.

P-compositionality: a history is linearizable iff each key's sub-history is,
so each key is searched on its own (``distlab.checkers.wgl``), in parallel
processes for the keys whose search is long enough to repay starting them. A time
budget turns an unfinished search into ``unknown``, never into a guess.

For a key found invalid, a counterexample is cut down to the shortest prefix
of the key's history that is already not linearizable (sound: every prefix of
a linearizable history is linearizable, with ops still running at the cut
treated as info), and that prefix is searched once more to find the longest
linearization and the op that nothing can explain.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import defaultdict
from collections.abc import Hashable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from distlab.checkers.counterexample import Counterexample
from distlab.checkers.history import History, Op
from distlab.checkers.models import UNKNOWN, Model
from distlab.checkers.values import thaw
from distlab.checkers.verdict import Verdict, compose
from distlab.checkers.wgl import SearchResult, search

# Each key first gets this long in the calling process; only keys that need
# more are searched in worker processes, whose start-up (~0.1 s) would
# otherwise cost more than the whole check of a typical history.
SLICE_S = 0.05
# ... and the first pass as a whole stops after this long: with many
# middling keys, the rest are worth spreading over the cores.
FIRST_PASS_S = 0.5
# Memo entries per key search before the verdict is unknown; with two workers
# this keeps the check under 1 GB (about 150 bytes an entry).
MAX_STATES = 2_000_000
# Time for the counterexample of one key: at least CX_MIN_S, else CX_FACTOR
# times what its search took.
CX_MIN_S = 2.0
CX_FACTOR = 5.0


@dataclass
class KeyResult:
    """The verdict for one key's sub-history."""

    key: Hashable
    verdict: Verdict
    ops: int
    elapsed_s: float
    reason: str = ""
    steps: int = 0
    states: int = 0
    counterexample: Counterexample | None = None


@dataclass
class LinearizabilityResult:
    """The verdict for a whole history, with one ``KeyResult`` per key."""

    model: str
    verdict: Verdict
    keys: list[KeyResult] = field(default_factory=list)
    elapsed_s: float = 0.0
    ops: int = 0

    @property
    def invalid(self) -> list[KeyResult]:
        return [k for k in self.keys if k.verdict is Verdict.INVALID]

    @property
    def unknown(self) -> list[KeyResult]:
        return [k for k in self.keys if k.verdict is Verdict.UNKNOWN]

    def summary(self) -> str:
        """One line: verdict, ops, keys, and what went wrong where."""
        text = f"{self.verdict} ({self.ops} ops, {len(self.keys)} keys, model {self.model})"
        if self.invalid:
            text += f"; not linearizable: {_keys(self.invalid)}"
        if self.unknown:
            reasons = sorted({k.reason for k in self.unknown})
            text += f"; unknown ({', '.join(reasons)}): {_keys(self.unknown)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: verdict, counts, and per key verdict, ops, time and reason."""
        return {
            "model": self.model,
            "verdict": str(self.verdict),
            "ops": self.ops,
            "elapsed_s": self.elapsed_s,
            "keys": [
                {
                    "key": thaw(k.key),
                    "verdict": str(k.verdict),
                    "ops": k.ops,
                    "elapsed_s": k.elapsed_s,
                    "reason": k.reason,
                    "counterexample": k.counterexample.text() if k.counterexample else None,
                }
                for k in self.keys
            ],
        }

    def report(self) -> str:
        """The summary and the counterexample of every invalid key (for assert messages)."""
        parts = [self.summary()]
        parts += [k.counterexample.text() for k in self.invalid if k.counterexample is not None]
        return "\n".join(parts)


def _keys(results: list[KeyResult], limit: int = 5) -> str:
    from distlab.checkers.values import show

    names = [show(k.key) for k in results[:limit]]
    more = len(results) - limit
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def partitions(history: History, model: Model) -> dict[Hashable, list[Op]]:
    """The ops the search must place, per key: ``fail`` ops did not happen and an
    ``info`` op of a read-only function constrains nothing, so both are dropped."""
    parts: dict[Hashable, list[Op]] = defaultdict(list)
    read_only = model.read_only
    for op in history.ops:
        if op.type == "fail" or (op.ret is None and op.f in read_only):
            continue
        parts[op.key].append(op)
    return dict(parts)


def check_linearizable(
    history: History,
    model: Model,
    *,
    budget_s: float | None = None,
    workers: int | None = None,
    counterexample: bool = True,
    slice_s: float = SLICE_S,
) -> LinearizabilityResult:
    """Check a history against ``model``; ``budget_s`` bounds the whole check.

    ``workers``: processes for the keys that need more than ``slice_s`` each
    (default: the CPU count).
    """
    start = time.monotonic()
    deadline = None if budget_s is None else start + budget_s
    parts = partitions(history, model)
    items = sorted(parts.items(), key=lambda kv: -len(kv[1]))
    # First pass in this process with a short slice per key: most keys finish
    # in well under a millisecond, far less than starting a worker costs.
    outcomes: list[tuple[SearchResult, float]] = []
    hard: list[int] = []
    pass_end = start + FIRST_PASS_S
    for n, (_, ops) in enumerate(items):
        if slice_s <= 0 or time.monotonic() > pass_end:  # the rest go to the workers
            hard.append(n)
            outcomes.append((SearchResult(Verdict.UNKNOWN), 0.0))
            continue
        slice_end = time.monotonic() + slice_s
        cut = slice_end if deadline is None else min(deadline, slice_end)
        res, elapsed = _search_one(ops, model, cut)
        if res.verdict is Verdict.UNKNOWN and res.reason == "time budget" and cut == slice_end:
            hard.append(n)
        outcomes.append((res, elapsed))
    # Keys that outlived their slice get the rest of the budget, spread over processes.
    if workers is None:
        workers = os.cpu_count() or 1
    workers = max(1, min(workers, len(hard)))
    hard_items = [items[n] for n in hard]
    if workers > 1:
        again = _search_parallel(hard_items, model, deadline, workers)
    else:
        again = [_search_one(ops, model, deadline) for _, ops in hard_items]
    for n, (res, elapsed) in zip(hard, again, strict=True):
        outcomes[n] = (res, elapsed + outcomes[n][1])
    results = []
    for (key, ops), (res, elapsed) in zip(items, outcomes, strict=True):
        kr = KeyResult(key, res.verdict, len(ops), elapsed, res.reason, res.steps, res.states)
        if res.verdict is Verdict.INVALID and counterexample:
            # Explaining costs a few more searches of the key: bound it by the
            # cost of finding the problem, so a huge invalid key stays cheap.
            spend = time.monotonic() + max(CX_MIN_S, CX_FACTOR * elapsed)
            cx_deadline = spend if deadline is None else min(deadline, spend)
            kr.counterexample = find_counterexample(key, ops, model, cx_deadline)
        results.append(kr)
    verdict = compose(k.verdict for k in results)
    return LinearizabilityResult(
        model.name, verdict, results, time.monotonic() - start, len(history.ops)
    )


def _search_one(
    ops: Sequence[Op], model: Model, deadline: float | None
) -> tuple[SearchResult, float]:
    t0 = time.monotonic()
    res = search(ops, model, deadline=deadline, max_states=MAX_STATES)
    return res, time.monotonic() - t0


def _search_chunk(
    chunk: list[list[Op]], model: Model, deadline: float | None
) -> list[tuple[SearchResult, float]]:
    return [_search_one(ops, model, deadline) for ops in chunk]


# What forked workers search: set just before the pool forks them, so the ops
# reach the workers through copy-on-write memory instead of pickles (pickling
# an Op costs about as much as searching it).
_SHARED: tuple[Model | None, list[list[Op]]] = (None, [])


def _search_shared(indexes: list[int], deadline: float | None) -> list[tuple[SearchResult, float]]:
    model, parts = _SHARED
    assert model is not None
    return [_search_one(parts[i], model, deadline) for i in indexes]


def _die_with_parent() -> None:
    # A worker must not outlive the check if the parent is killed.
    from distlab.proc import _die_with_parent as preexec

    preexec(9)()


def _search_parallel(
    items: list[tuple[Hashable, list[Op]]], model: Model, deadline: float | None, workers: int
) -> list[tuple[SearchResult, float]]:
    global _SHARED
    # Deal keys (biggest first) into chunks of about equal op counts, a few
    # per worker so a slow key does not leave the other workers idle.
    n_chunks = min(len(items), workers * 4)
    loads = [0] * n_chunks
    members: list[list[int]] = [[] for _ in range(n_chunks)]
    for idx, (_, ops) in enumerate(items):
        c = loads.index(min(loads))
        loads[c] += len(ops)
        members[c].append(idx)
    members = [m for m in members if m]
    # fork is cheap and safe while we are the only thread; otherwise
    # forkserver, and then the ops (and the model) must be pickled.
    forking = threading.active_count() == 1
    ctx = multiprocessing.get_context("fork" if forking else "forkserver")
    out: list[tuple[SearchResult, float] | None] = [None] * len(items)
    if forking:
        _SHARED = (model, [ops for _, ops in items])
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_die_with_parent) as pool:
            if forking:
                futures = [(m, pool.submit(_search_shared, m, deadline)) for m in members]
            else:
                futures = [
                    (m, pool.submit(_search_chunk, [items[i][1] for i in m], model, deadline))
                    for m in members
                ]
            for m, fut in futures:
                for i, r in zip(m, fut.result(), strict=True):
                    out[i] = r
    finally:
        _SHARED = (None, [])
    return [r for r in out if r is not None]


def prefix(ops: Sequence[Op], cut: int | float, model: Model) -> list[Op]:
    """The key's history as it stood at time ``cut``: ops invoked later are gone and
    ops still running become info (a read among them constrains nothing)."""
    out: list[Op] = []
    for op in ops:
        if op.call > cut:
            continue
        if op.ret is not None and op.ret <= cut:
            out.append(op)
        elif op.f not in model.read_only:
            out.append(
                Op(
                    op.index,
                    op.process,
                    op.f,
                    op.key,
                    op.value,
                    UNKNOWN,
                    "info",
                    op.call,
                    None,
                    op.line,
                    None,
                    None,
                )
            )
    return out


def find_counterexample(
    key: Hashable, ops: Sequence[Op], model: Model, deadline: float | None
) -> Counterexample:
    """The shortest invalid prefix of an invalid key, with its longest linearization.

    Past ``deadline`` the binary search stops at the shortest prefix proven
    invalid so far: still a true counterexample, only maybe not the shortest.
    """
    cuts = sorted({op.ret for op in ops if op.ret is not None})
    lo, hi = 0, len(cuts) - 1  # cuts[hi] is known invalid (it is the whole history)
    while lo < hi and (deadline is None or time.monotonic() < deadline):
        mid = (lo + hi) // 2
        res = search(prefix(ops, cuts[mid], model), model, deadline=deadline, max_states=MAX_STATES)
        if res.verdict is Verdict.INVALID:
            hi = mid
        else:
            lo = mid + 1
    cut_ops = prefix(ops, cuts[hi], model)
    res = search(cut_ops, model, deadline=deadline, max_states=MAX_STATES, track_longest=True)
    if res.verdict is not Verdict.INVALID:  # out of budget on the last pass: show the cut only
        return Counterexample(key, model, cut_ops, cuts[hi], [], None)
    return Counterexample(
        key,
        model,
        cut_ops,
        cuts[hi],
        [cut_ops[i] for i in res.longest],
        None if res.blocked is None else cut_ops[res.blocked],
    )
