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

import gc
import multiprocessing
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from distlab.checkers.counterexample import RUNNING, Counterexample
from distlab.checkers.history import History, Op
from distlab.checkers.models import UNKNOWN, Model
from distlab.checkers.values import thaw
from distlab.checkers.verdict import Verdict, compose
from distlab.checkers.wgl import STOPPED, SearchResult, search

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
# The reason of a key with no successful operation: judged neither way.
NO_SUCCESS = "no operation succeeded"
# Keys up to this many ops record their longest linearization during the check
# (copying the stack at each new depth is quadratic in the worst case).
TRACK_MAX_OPS = 5000


@dataclass
class KeyResult:
    """The verdict for one key's sub-history.

    ``counterexample`` is computed when first read (and kept): a check whose
    explanation nobody shows does not pay for it.
    """

    key: Hashable
    verdict: Verdict
    ops: int
    elapsed_s: float
    reason: str = ""
    steps: int = 0
    states: int = 0
    explainer: Callable[[], Counterexample] | None = field(default=None, repr=False, compare=False)
    _counterexample: Counterexample | None = field(default=None, init=False, repr=False)

    @property
    def stopped(self) -> bool:
        """Not searched to the end because another key had already made the history invalid."""
        return self.reason == STOPPED

    @property
    def counterexample(self) -> Counterexample | None:
        """Why an invalid key is not linearizable (None if not invalid or explain=False)."""
        if self._counterexample is None and self.explainer is not None:
            self._counterexample = self.explainer()
            self.explainer = None
        return self._counterexample


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
        """Keys whose search ran out of budget (not those stopped early)."""
        return [k for k in self.keys if k.verdict is Verdict.UNKNOWN and not k.stopped]

    @property
    def stopped(self) -> list[KeyResult]:
        """Keys left unsearched once another key was found invalid."""
        return [k for k in self.keys if k.stopped]

    def summary(self) -> str:
        """One line: verdict, ops, keys, and what went wrong where."""
        text = f"{self.verdict} ({self.ops} ops, {len(self.keys)} keys, model {self.model})"
        if self.invalid:
            text += f"; not linearizable: {_keys(self.invalid)}"
        if self.unknown:
            reasons = sorted({k.reason for k in self.unknown})
            text += f"; unknown ({', '.join(reasons)}): {_keys(self.unknown)}"
        if self.stopped:
            text += f"; {len(self.stopped)} keys not searched to the end (verdict already final)"
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
    explain: bool = True,
    all_keys: bool = False,
    slice_s: float = SLICE_S,
) -> LinearizabilityResult:
    """Check a history against ``model``; ``budget_s`` bounds the whole check.

    ``workers``: processes for the keys that need more than ``slice_s`` each
    (default: the CPU count). Once one key is invalid the verdict cannot
    change, so the other keys' searches stop (their ``KeyResult.stopped``)
    unless ``all_keys`` asks for every bad key. ``explain=False``: no
    counterexamples; otherwise each is computed when first read.
    """
    # The search makes millions of small tuples and no reference cycles; the
    # collector's passes over them and over the history's ops are pure cost
    # (about a tenth of a 100,000-op check, more as the heap grows).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _check(history, model, budget_s, workers, explain, all_keys, slice_s)
    finally:
        if enabled:
            gc.enable()


def _check(
    history: History,
    model: Model,
    budget_s: float | None,
    workers: int | None,
    explain: bool,
    all_keys: bool,
    slice_s: float,
) -> LinearizabilityResult:
    start = time.monotonic()
    deadline = None if budget_s is None else start + budget_s
    parts = partitions(history, model)
    items = sorted(parts.items(), key=lambda kv: -len(kv[1]))
    # First pass in this process with a short slice per key: most keys finish
    # in well under a millisecond, far less than starting a worker costs.
    outcomes: list[tuple[SearchResult, float]] = []
    hard: list[int] = []
    pass_end = start + FIRST_PASS_S
    final = False  # a key is invalid and all_keys is off: the verdict is settled
    for n, (_, ops) in enumerate(items):
        if final:
            outcomes.append((SearchResult(Verdict.UNKNOWN, STOPPED), 0.0))
            continue
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
        final = res.verdict is Verdict.INVALID and not all_keys
    if final:
        for n in hard:
            outcomes[n] = (SearchResult(Verdict.UNKNOWN, STOPPED), outcomes[n][1])
        hard = []
    # Keys that outlived their slice get the rest of the budget, spread over processes.
    if workers is None:
        workers = os.cpu_count() or 1
    workers = max(1, min(workers, len(hard)))
    hard_items = [items[n] for n in hard]
    if workers > 1:
        again = _search_parallel(hard_items, model, deadline, workers, all_keys)
    else:
        again = _search_serial([ops for _, ops in hard_items], model, deadline, all_keys)
    for n, (res, elapsed) in zip(hard, again, strict=True):
        outcomes[n] = (res, elapsed + outcomes[n][1])
    results = []
    for (key, ops), (res, elapsed) in zip(items, outcomes, strict=True):
        if not any(op.type == "ok" for op in ops):
            # Nothing on this key certainly happened, so nothing can contradict the
            # model: "valid" would be vacuous. The key has no verdict, and says why.
            results.append(KeyResult(key, Verdict.UNKNOWN, len(ops), elapsed, NO_SUCCESS))
            continue
        kr = KeyResult(key, res.verdict, len(ops), elapsed, res.reason, res.steps, res.states)
        if res.verdict is Verdict.INVALID and explain:
            kr.explainer = _explainer(key, ops, model, elapsed, budget_s, res)
        results.append(kr)
    # Keys whose ops all failed (or were reads that timed out) have nothing to place
    # at all; they are keys of the history all the same, with no verdict.
    seen = history.keys()  # a History, not a dict: every key named, first-seen order
    missing = [key for key in seen if key not in parts]
    if missing:
        counts = Counter(op.key for op in history.ops)
        for key in missing:
            results.append(KeyResult(key, Verdict.UNKNOWN, counts[key], 0.0, NO_SUCCESS))
    # The history's verdict is over the keys that could be judged; with none, there is none.
    judged = [k for k in results if k.reason != NO_SUCCESS]
    verdict = compose(k.verdict for k in judged) if judged else Verdict.UNKNOWN
    return LinearizabilityResult(
        model.name, verdict, results, time.monotonic() - start, len(history.ops)
    )


def _explainer(
    key: Hashable,
    ops: list[Op],
    model: Model,
    elapsed: float,
    budget_s: float | None,
    full: SearchResult,
) -> Callable[[], Counterexample]:
    def explain() -> Counterexample:
        # Explaining costs a few more searches of the key: bound it by the
        # cost of finding the problem, so a huge invalid key stays cheap.
        allowance = max(CX_MIN_S, CX_FACTOR * elapsed)
        if budget_s is not None:
            allowance = min(allowance, budget_s)
        return find_counterexample(key, ops, model, time.monotonic() + allowance, full)

    return explain


def _search_one(
    ops: Sequence[Op],
    model: Model,
    deadline: float | None,
    stop: Callable[[], bool] | None = None,
) -> tuple[SearchResult, float]:
    t0 = time.monotonic()
    # The longest linearization is what an explanation starts from; recording
    # it copies the search stack at each new depth, cheap for keys of this size.
    track = len(ops) <= TRACK_MAX_OPS
    res = search(
        ops, model, deadline=deadline, max_states=MAX_STATES, stop=stop, track_longest=track
    )
    return res, time.monotonic() - t0


def _search_serial(
    chunk: Sequence[list[Op]],
    model: Model,
    deadline: float | None,
    all_keys: bool,
    stop: Callable[[], bool] | None = None,
    on_invalid: Callable[[], None] | None = None,
) -> list[tuple[SearchResult, float]]:
    """Search keys one after another; once one is invalid (and not ``all_keys``)
    or ``stop`` says so, the rest are left ``stopped``."""
    out: list[tuple[SearchResult, float]] = []
    settled = False
    for ops in chunk:
        if settled or (stop is not None and stop()):
            out.append((SearchResult(Verdict.UNKNOWN, STOPPED), 0.0))
            continue
        res, elapsed = _search_one(ops, model, deadline, stop)
        out.append((res, elapsed))
        if res.verdict is Verdict.INVALID and not all_keys:
            settled = True
            if on_invalid is not None:
                on_invalid()
    return out


# What forked workers search: set just before the pool forks them, so the ops
# reach the workers through copy-on-write memory instead of pickles (pickling
# an Op costs about as much as searching it).
_SHARED: tuple[Model | None, list[list[Op]]] = (None, [])
# The pool's stop flag, handed to each worker when it starts.
_STOP: Any = None


def _worker_init(stop: Any) -> None:
    global _STOP
    _STOP = stop
    # A worker must not outlive the check if the parent is killed.
    from distlab.proc import _die_with_parent as preexec

    preexec(9)()


def _in_worker(
    chunk: Sequence[list[Op]], model: Model, deadline: float | None, all_keys: bool
) -> list[tuple[SearchResult, float]]:
    stop = _STOP
    # An invalid key stops every worker's search at its next clock check.
    return _search_serial(
        chunk,
        model,
        deadline,
        all_keys,
        stop=stop.is_set,
        on_invalid=None if all_keys else stop.set,
    )


def _search_chunk(
    chunk: list[list[Op]], model: Model, deadline: float | None, all_keys: bool
) -> list[tuple[SearchResult, float]]:
    return _in_worker(chunk, model, deadline, all_keys)


def _search_shared(
    indexes: list[int], deadline: float | None, all_keys: bool
) -> list[tuple[SearchResult, float]]:
    model, parts = _SHARED
    assert model is not None
    return _in_worker([parts[i] for i in indexes], model, deadline, all_keys)


def _search_parallel(
    items: list[tuple[Hashable, list[Op]]],
    model: Model,
    deadline: float | None,
    workers: int,
    all_keys: bool = False,
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
    stop = ctx.Event()
    stopped = (SearchResult(Verdict.UNKNOWN, STOPPED), 0.0)
    out: list[tuple[SearchResult, float]] = [stopped] * len(items)
    if forking:
        _SHARED = (model, [ops for _, ops in items])
    try:
        with ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_worker_init, initargs=(stop,)
        ) as pool:
            futures: dict[Future[list[tuple[SearchResult, float]]], list[int]] = {}
            for m in members:
                if forking:
                    fut = pool.submit(_search_shared, m, deadline, all_keys)
                else:
                    fut = pool.submit(
                        _search_chunk, [items[i][1] for i in m], model, deadline, all_keys
                    )
                futures[fut] = m
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    if fut.cancelled():
                        continue
                    for i, r in zip(futures[fut], fut.result(), strict=True):
                        out[i] = r
                if stop.is_set():
                    # Chunks not started yet never start; running ones see the flag.
                    for fut in pending:
                        fut.cancel()
    finally:
        _SHARED = (None, [])
    return out


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
                    # not "info": its outcome is known later, it had just not
                    # completed when this prefix ends
                    RUNNING if op.ret is not None else op.type,
                    op.call,
                    None,
                    op.line,
                    None,
                    None,
                )
            )
    return out


def find_counterexample(
    key: Hashable,
    ops: Sequence[Op],
    model: Model,
    deadline: float | None,
    full: SearchResult | None = None,
) -> Counterexample:
    """The shortest invalid prefix of an invalid key, with its longest linearization.

    ``full``: the check's invalid search of the whole key. Its ``stuck`` (the
    latest completion it had to backtrack at) is where the prefix probably
    ends: every configuration of the whole history's search that gets past
    the ops completing by ``stuck`` would have met a later completion, so the
    prefix ending there is invalid too, and the same search's longest
    linearization and blocked op explain it. Only the prefix one completion
    shorter is then searched, to show it is valid; otherwise (and without
    ``full``) a binary search over completion times finds the cut. Past
    ``deadline`` the search stops at the shortest prefix proven invalid so
    far: still a true counterexample, only maybe not the shortest.
    """
    cuts = sorted({op.ret for op in ops if op.ret is not None})
    lo, hi = 0, len(cuts) - 1  # cuts[hi] is known invalid (it is the whole history)
    found: dict[int, tuple[list[Op], SearchResult]] = {}

    def invalid_at(n: int) -> bool:
        cut_ops = prefix(ops, cuts[n], model)
        res = search(cut_ops, model, deadline=deadline, max_states=MAX_STATES, track_longest=True)
        if res.verdict is Verdict.INVALID:
            found[n] = (cut_ops, res)
        return res.verdict is Verdict.INVALID

    hint = None if full is None else full.stuck
    if full is not None and hint in cuts and (full.longest or full.blocked is not None):
        at = cuts.index(hint)
        cut_ops = prefix(ops, cuts[at], model)
        where = {op.index: n for n, op in enumerate(cut_ops)}
        mapped = SearchResult(
            Verdict.INVALID,
            # a read still running at the cut is not in the prefix (it
            # constrains nothing there) and leaves the state as it was
            longest=[where[ops[i].index] for i in full.longest if ops[i].index in where],
            blocked=None if full.blocked is None else where[ops[full.blocked].index],
        )
        found[at] = (cut_ops, mapped)
        hi = at
        if at > 0 and not invalid_at(at - 1):
            lo = at
    elif hint is not None and hint in cuts:
        at = cuts.index(hint)
        if invalid_at(at):
            hi = at
            if at > 0 and not invalid_at(at - 1):
                lo = at
        else:
            lo = at + 1
    while lo < hi and (deadline is None or time.monotonic() < deadline):
        mid = (lo + hi) // 2
        if invalid_at(mid):
            hi = mid
        else:
            lo = mid + 1
    if hi not in found:
        invalid_at(hi)
    if hi not in found:  # out of budget on the last pass: show the cut only
        return Counterexample(
            key, model, prefix(ops, cuts[hi], model), cuts[hi], [], None, list(ops)
        )
    cut_ops, res = found[hi]
    return Counterexample(
        key,
        model,
        cut_ops,
        cuts[hi],
        [cut_ops[i] for i in res.longest],
        None if res.blocked is None else cut_ops[res.blocked],
        list(ops),
    )
