"""The Wing-Gong-Lowe search for one partition (one key) of a history.

Operations become call and return entries in a doubly linked list ordered by
time (a call before a return at the same time: equal times are concurrent).
The search walks the list from the head: at a call it tries to linearize that
op next (apply the model; on success lift the op's call and return out of the
list and start again from the head); at a return it has hit an op that should
already have taken effect, so it backtracks the most recent choice. A memo of
(linearized set, model state) pairs cuts every branch already explored
(Lowe's improvement), which is what makes the search fast in practice.

``info`` ops have their return at infinity: they may take effect anywhere
after their invoke, and the search succeeds once every ``ok`` op is
linearized, whether or not the info ops were (never is the same as "at the
end" unless the model rejects it there, so we do not require it).

The memo key holds the placed ok ops as (``hi``, ``holes``): every rank
below ``hi`` except a few holes, which are ops still running when a later
one was placed -- so the key is as small as the concurrency, not the
history, and a long op pinned early costs nothing. Info ops are a bitset of
their own (an info op that never takes effect stays unplaced forever).

Pure: no I/O, no clocks except the optional deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from distlab.checkers.history import Op
from distlab.checkers.models import ILLEGAL, Model
from distlab.checkers.verdict import Verdict

_INF = float("inf")
_CHECK_MASK = 2047  # check the clock every 2048 iterations (a clock read is not free)
_ENTRY_BYTES = 150  # about what one memo entry costs: tuple, set slot, small ints
MAX_MEMO_BYTES = 300_000_000  # two workers at their budgets plus the parent stay under 1 GB
STOPPED = "stopped"  # the reason of a search ended by its caller's ``stop``


@dataclass
class SearchResult:
    """The outcome of searching one partition."""

    verdict: Verdict
    reason: str = ""  # for unknown: which budget ran out
    steps: int = 0  # loop iterations
    states: int = 0  # memo entries
    # With track_longest: the longest linearization found (indexes into the ops
    # given) and the op whose return stopped it.
    longest: list[int] = field(default_factory=list)
    blocked: int | None = None
    # For invalid: the latest completion time at which the search had to
    # backtrack -- where the shortest invalid prefix usually ends, so the
    # counterexample's search starts there.
    stuck: int | float | None = None


def search(
    ops: Sequence[Op],
    model: Model,
    *,
    deadline: float | None = None,
    max_states: int = 4_000_000,
    max_bytes: int = MAX_MEMO_BYTES,
    track_longest: bool = False,
    stop: Callable[[], bool] | None = None,
) -> SearchResult:
    """Is this sequence of ops (one key, no ``fail`` ops) linearizable under ``model``?

    ``deadline`` is a ``time.monotonic()`` value; past it, or past
    ``max_states`` memo entries or about ``max_bytes`` of memo, the verdict
    is ``unknown``. ``stop`` is asked as often as the clock; once it says
    true the search ends ``unknown`` with reason ``stopped`` (the caller
    already knows the verdict of the whole history).
    """
    n = len(ops)
    step = [model.compile(op.f, op.value, op.output) for op in ops]
    is_info = [op.ret is None for op in ops]
    # ok ops and info ops are numbered separately, each in the order given
    # (invoke order), which keeps the holes few.
    rank = [0] * n
    n_ok = n_info = 0
    for i in range(n):
        if is_info[i]:
            rank[i] = n_info
            n_info += 1
        else:
            rank[i] = n_ok
            n_ok += 1

    events = []
    for i, op in enumerate(ops):
        events.append((op.call, 0, i))
        events.append((_INF if op.ret is None else op.ret, 1, i))
    events.sort()
    m = 2 * n
    head, tail = m, m + 1
    op_of = [i for _, _, i in events]
    is_call = [kind == 0 for _, kind, _ in events]
    ret_entry = [0] * n
    for e, (_, kind, i) in enumerate(events):
        if kind == 1:
            ret_entry[i] = e
    match = [ret_entry[op_of[e]] if is_call[e] else -1 for e in range(m)]
    nxt = [*range(1, m + 1), 0, 0]
    prv = [head, *range(0, m - 1), 0, m - 1]
    nxt[m - 1] = tail
    nxt[head] = 0 if m else tail
    prv[tail] = m - 1 if m else head

    state = model.init()
    # The ok ops placed so far are every rank below `hi` except the `holes`
    # (a sorted tuple). A hole is an op still running when a later-invoked op
    # was placed, so there are at most as many as ops run at once: the memo
    # key stays small and cheap however long the history.
    hi = 0
    holes: tuple[int, ...] = ()
    lin_info = 0  # info ops placed, as a bitset over their own ranks
    remaining = n_ok
    cache: set[tuple[int, tuple[int, ...], int, Any]] = set()
    memo_bytes = 0
    # (call entry, state, hi, holes) before each placed op, to backtrack
    stack: list[tuple[int, Any, int, tuple[int, ...]]] = []
    longest: list[int] = []
    blocked: int | None = None
    stuck_at = -1  # the latest return entry backtracked at (entries are in time order)
    steps = 0
    e = nxt[head]
    while remaining:
        steps += 1
        if not steps & _CHECK_MASK:
            if deadline is not None and time.monotonic() > deadline:
                return SearchResult(Verdict.UNKNOWN, "time budget", steps, len(cache))
            if stop is not None and stop():
                return SearchResult(Verdict.UNKNOWN, STOPPED, steps, len(cache))
            if len(cache) > max_states or memo_bytes > max_bytes:
                return SearchResult(Verdict.UNKNOWN, "memory budget", steps, len(cache))
        if is_call[e]:
            i = op_of[e]
            new = step[i](state)
            if new is not ILLEGAL:
                r = rank[i]
                if is_info[i]:
                    nhi, nholes, ni = hi, holes, lin_info | (1 << r)
                elif r >= hi:
                    nhi, nholes, ni = r + 1, holes + tuple(range(hi, r)), lin_info
                elif holes[0] == r:
                    nhi, nholes, ni = hi, holes[1:], lin_info
                else:
                    nhi, nholes, ni = hi, tuple(h for h in holes if h != r), lin_info
                key = (nhi, nholes, ni, new)
                if key not in cache:
                    cache.add(key)
                    memo_bytes += _ENTRY_BYTES + 8 * len(nholes) + ni.bit_length() // 8
                    stack.append((e, state, hi, holes))
                    state, hi, holes, lin_info = new, nhi, nholes, ni
                    if not is_info[i]:
                        remaining -= 1
                    # lift the call and its return out of the list
                    p, q = prv[e], nxt[e]
                    nxt[p] = q
                    prv[q] = p
                    r = match[e]
                    p, q = prv[r], nxt[r]
                    nxt[p] = q
                    prv[q] = p
                    e = nxt[head]
                    continue
            e = nxt[e]
        else:
            if track_longest and len(stack) > len(longest):
                longest = [op_of[entry[0]] for entry in stack]
                blocked = op_of[e]
            if e > stuck_at:
                stuck_at = e
            if not stack:
                return SearchResult(
                    Verdict.INVALID,
                    "",
                    steps,
                    len(cache),
                    longest,
                    blocked,
                    ops[op_of[stuck_at]].ret,
                )
            e, state, hi, holes = stack.pop()
            i = op_of[e]
            if is_info[i]:
                lin_info &= ~(1 << rank[i])
            else:
                remaining += 1
            # unlift: the return first, then the call (reverse of lifting)
            r = match[e]
            prv[nxt[r]] = r
            nxt[prv[r]] = r
            prv[nxt[e]] = e
            nxt[prv[e]] = e
            e = nxt[e]
    if track_longest:
        longest = [op_of[entry[0]] for entry in stack]
    return SearchResult(Verdict.VALID, "", steps, len(cache), longest, None)
