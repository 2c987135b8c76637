"""Randomized checks of the linearizability checker against a brute-force oracle.

The oracle shares nothing with the WGL search: it tries every subset of the
info ops and every order of the chosen ops that respects real time.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distlab.checkers import (
    ILLEGAL,
    KV,
    Model,
    Op,
    Register,
    Verdict,
    check_linearizable,
    from_records,
)
from distlab.checkers.linearizability import partitions, prefix
from distlab.workload.simulate import hard_history, mutate_read, simulate

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def oracle(ops: Sequence[Op], model: Model) -> bool:
    """Is there a linearization? By brute force (small histories only)."""
    done = [op for op in ops if op.ret is not None]
    info = [op for op in ops if op.ret is None]
    for mask in range(2 ** len(info)):
        chosen = done + [op for i, op in enumerate(info) if mask >> i & 1]
        if _some_order(chosen, model.init(), model):
            return True
    return False


def _some_order(remaining: list[Op], state: Any, model: Model) -> bool:
    if not remaining:
        return True
    first_return = min((op.ret for op in remaining if op.ret is not None), default=math.inf)
    for n, op in enumerate(remaining):
        if op.call > first_return:  # another op finished before this one began
            continue
        nxt = model.compile(op.f, op.value, op.output)(state)
        if nxt is ILLEGAL:
            continue
        if _some_order(remaining[:n] + remaining[n + 1 :], nxt, model):
            return True
    return False


def _records(spec: list[tuple[str, Any, str, Any, int, int]]) -> list[dict[str, Any]]:
    """(f, value, outcome, output, call, duration) per op, each op its own process."""
    recs = []
    for p, (f, value, outcome, output, call, dur) in enumerate(spec):
        base = {"process": p, "f": f, "key": "x"}
        recs.append((call, 0, {**base, "type": "invoke", "value": value, "time": call}))
        if outcome != "pending":
            recs.append(
                (call + dur, 1, {**base, "type": outcome, "value": output, "time": call + dur})
            )
    recs.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in recs]


small = st.integers(0, 2)
register_op = st.one_of(
    st.tuples(
        st.just("write"), small, st.sampled_from(["ok", "ok", "info", "fail", "pending"])
    ).map(lambda t: (t[0], t[1], t[2], t[1])),
    st.tuples(
        st.just("read"),
        st.none(),
        st.sampled_from(["ok", "ok", "ok", "info"]),
        st.one_of(st.none(), small),
    ),
    st.tuples(
        st.just("cas"),
        st.lists(small, min_size=2, max_size=2),
        st.sampled_from(["ok", "fail", "info"]),
    ).map(lambda t: (t[0], t[1], t[2], t[1])),
)
kv_op = st.one_of(
    st.tuples(
        st.just("append"), st.sampled_from(["a", "b"]), st.sampled_from(["ok", "ok", "info"])
    ).map(lambda t: (t[0], t[1], t[2], t[1])),
    st.tuples(st.just("put"), st.sampled_from(["a", "b"]), st.just("ok")).map(
        lambda t: (t[0], t[1], t[2], t[1])
    ),
    st.tuples(
        st.just("get"), st.none(), st.just("ok"), st.sampled_from(["", "a", "b", "ab", "ba", None])
    ),
    st.tuples(st.just("delete"), st.none(), st.sampled_from(["ok", "info"]), st.none()),
)
timing = st.tuples(st.integers(0, 12), st.integers(0, 6))


def _spec(ops_and_times: list[tuple[tuple[str, Any, str, Any], tuple[int, int]]]) -> list[Any]:
    return [(*op, call, dur) for op, (call, dur) in ops_and_times]


@SETTINGS
@given(st.lists(st.tuples(register_op, timing), min_size=1, max_size=7))
def test_register_agrees_with_brute_force(ops: list[Any]) -> None:
    _agrees(_records(_spec(ops)), Register())


@SETTINGS
@given(st.lists(st.tuples(kv_op, timing), min_size=1, max_size=7))
def test_kv_agrees_with_brute_force(ops: list[Any]) -> None:
    _agrees(_records(_spec(ops)), KV())


def _agrees(recs: list[dict[str, Any]], model: Model) -> None:
    history = from_records(recs, model=model)
    result = check_linearizable(history, model)
    ops = partitions(history, model).get("x", [])
    expected = Verdict.VALID if oracle(ops, model) else Verdict.INVALID
    if not any(op.type == "ok" for op in ops):
        # Nothing certainly happened: the oracle finds it trivially linearizable,
        # the checker says it has no verdict rather than a vacuous "valid".
        assert expected is Verdict.VALID and result.verdict is Verdict.UNKNOWN, recs
        return
    assert result.verdict is expected, recs
    if expected is Verdict.INVALID:
        # the counterexample ends at the first completion whose prefix the
        # oracle cannot linearize (the search starts from a hint: still exact)
        cx = result.invalid[0].counterexample
        cuts = sorted({op.ret for op in ops if op.ret is not None})
        shortest = next(c for c in cuts if not oracle(prefix(ops, c, model), model))
        assert cx is not None and cx.cut == shortest, recs


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(1, 120),
    clients=st.integers(1, 6),
    keys=st.integers(1, 4),
    model=st.sampled_from(["register", "kv"]),
)
def test_histories_of_a_correct_store_are_never_called_invalid(
    seed: int, n: int, clients: int, keys: int, model: str
) -> None:
    recs = simulate(
        random.Random(seed), ops=n, clients=clients, keys=keys, model=model, timeout_rate=0.1
    )
    m = Register() if model == "register" else KV()
    history = from_records(recs, model=m)
    # VALID, unless no operation succeeded at all: then there is no verdict (never a vacuous valid).
    expected = Verdict.VALID if any(op.type == "ok" for op in history.ops) else Verdict.UNKNOWN
    assert check_linearizable(history, m).verdict is expected


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(2, 9), model=st.sampled_from(["register", "kv"]))
def test_mutated_small_histories_agree_with_brute_force(seed: int, n: int, model: str) -> None:
    rng = random.Random(seed)
    recs = simulate(rng, ops=n, clients=3, model=model, timeout_rate=0.2, values=3)
    mutate_read(rng, recs, values=3)
    _agrees_multi(recs, Register() if model == "register" else KV())


def _agrees_multi(recs: list[dict[str, Any]], model: Model) -> None:
    history = from_records(recs, model=model)
    result = check_linearizable(history, model)
    parts = partitions(history, model)
    # Keys where nothing succeeded have no verdict and do not count toward the history's.
    judged = [ops for ops in parts.values() if any(op.type == "ok" for op in ops)]
    expected = (
        Verdict.UNKNOWN
        if not judged
        else Verdict.VALID
        if all(oracle(ops, model) for ops in judged)
        else Verdict.INVALID
    )
    assert result.verdict is expected, recs


def test_parallel_workers_give_the_same_verdicts() -> None:
    rng = random.Random(7)
    recs: list[dict[str, Any]] = []
    for k in range(6):
        part = simulate(rng, ops=80, clients=4, timeout_rate=0.05)
        if k in (2, 4):
            mutate_read(rng, part)
        for r in part:
            r["key"] = f"k{k}"
            r["process"] = f"{k}-{r['process']}"
        recs += part
    recs.sort(key=lambda r: r["time"])
    history = from_records(recs, model=Register())
    # all_keys: without it, which keys are stopped early depends on timing
    serial = check_linearizable(history, Register(), workers=1, all_keys=True)
    parallel = check_linearizable(history, Register(), workers=2, slice_s=0, all_keys=True)
    assert [(k.key, k.verdict) for k in serial.keys] == [(k.key, k.verdict) for k in parallel.keys]
    assert serial.verdict is parallel.verdict
    # with another thread alive the workers come from a fork server and the
    # ops travel as pickles: same answers
    release = threading.Event()
    other = threading.Thread(target=release.wait, daemon=True)
    other.start()
    try:
        pickled = check_linearizable(history, Register(), workers=2, slice_s=0, all_keys=True)
    finally:
        release.set()
        other.join()
    assert [(k.key, k.verdict) for k in pickled.keys] == [(k.key, k.verdict) for k in serial.keys]


def test_out_of_budget_is_unknown_never_a_guess() -> None:
    history = from_records(hard_history(24), model=Register())
    result = check_linearizable(history, Register(), budget_s=0.1)
    assert result.verdict is Verdict.UNKNOWN
    assert result.keys[0].reason == "time budget"
    # and the memory budget the same way
    from distlab.checkers.wgl import search

    res = search(partitions(history, Register())["x"], Register(), max_states=1000)
    assert res.verdict is Verdict.UNKNOWN and res.reason == "memory budget"


def _long_read(n: int, seen: int) -> list[dict[str, Any]]:
    """One read spanning n sequential writes of 0..n-1, returning ``seen``."""
    recs: list[dict[str, Any]] = [
        {"process": 0, "type": "invoke", "f": "read", "key": "x", "value": None, "time": 0}
    ]
    for i in range(n):
        recs.append(
            {
                "process": 1,
                "type": "invoke",
                "f": "write",
                "key": "x",
                "value": i,
                "time": 2 * i + 1,
            }
        )
        recs.append(
            {"process": 1, "type": "ok", "f": "write", "key": "x", "value": i, "time": 2 * i + 2}
        )
    recs.append(
        {"process": 0, "type": "ok", "f": "read", "key": "x", "value": seen, "time": 2 * n + 1}
    )
    return recs


def test_a_long_op_pinned_early_keeps_the_search_small() -> None:
    # The read can only be placed after the last write, so every memo entry
    # on the way has it unplaced: the memo key must not grow with the history.
    n = 1500
    res = check_linearizable(from_records(_long_read(n, n - 1)), Register())
    assert res.verdict is Verdict.VALID
    from distlab.checkers.wgl import search

    ops = partitions(from_records(_long_read(n, n - 1)), Register())["x"]
    assert search(ops, Register(), max_bytes=200 * (n + 1)).verdict is Verdict.VALID
    assert (
        check_linearizable(from_records(_long_read(n, -1)), Register()).verdict is Verdict.INVALID
    )
