"""A simulated linearizable store that writes histories: test and benchmark food.

Each simulated client is a single-threaded process issuing one op at a time;
every op takes effect at one random instant inside its interval (so the
history is linearizable by construction), or -- for ops that time out -- at a
random instant after their invoke, possibly after the client gave up, or
never. ``mutate_read`` then changes one read's value to make a history that is
usually, but not always, invalid (the checker or an oracle decides).
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

_MS = 1_000_000


@dataclass
class _SimOp:
    process: int
    f: str
    key: Any
    value: Any
    call: int
    ret: int
    effect: int | None  # when it takes effect (None: never)
    timed_out: bool
    output: Any = None
    ok: bool = True


def simulate(
    rng: random.Random,
    *,
    ops: int = 100,
    clients: int = 5,
    keys: int = 1,
    model: str = "register",
    timeout_rate: float = 0.03,
    values: int = 5,
    mean_latency_ms: float = 1.0,
) -> list[dict[str, Any]]:
    """History records (dicts) of ``ops`` operations on a correct register or kv store.

    ``timeout_rate``: share of ops that end ``info``; half of them take effect.
    """
    if model not in ("register", "kv"):
        raise ValueError(f"model must be register or kv, got {model!r}")
    key_names = [f"k{i}" for i in range(keys)]
    clock = [rng.randrange(0, _MS) for _ in range(clients)]
    process = list(range(clients))
    sim: list[_SimOp] = []
    for n in range(ops):
        c = n % clients
        call = clock[c]
        latency = max(1, int(rng.expovariate(1.0 / (mean_latency_ms * _MS))))
        f, value = _pick_op(rng, model, values, n)
        timed_out = rng.random() < timeout_rate
        if timed_out:
            effect = call + int(rng.random() * 3 * latency) + 1 if rng.random() < 0.5 else None
            ret = call + latency
        else:
            ret = call + latency
            effect = rng.randrange(call, ret + 1)
        sim.append(
            _SimOp(process[c], f, rng.choice(key_names), value, call, ret, effect, timed_out)
        )
        if timed_out:
            process[c] += clients  # Jepsen: a process whose op timed out is replaced
        clock[c] = ret + rng.randrange(1, _MS // 2)
    _apply(sim, model)
    return _records(sim)


def _pick_op(rng: random.Random, model: str, values: int, n: int) -> tuple[str, Any]:
    r = rng.random()
    if model == "register":
        if r < 0.5:
            return "read", None
        if r < 0.8:
            return "write", rng.randrange(values)
        return "cas", [rng.randrange(values), rng.randrange(values)]
    if r < 0.5:
        return "get", None
    if r < 0.7:
        return "append", f"{n}."
    if r < 0.9:
        return "put", f"{rng.randrange(values)}."
    return "delete", None


def _apply(sim: list[_SimOp], model: str) -> None:
    """Run the ops in effect order against a correct store to learn their outputs."""
    state: dict[Hashable, Any] = {}
    initial = None if model == "register" else ""
    for op in sorted((o for o in sim if o.effect is not None), key=lambda o: o.effect or 0):
        cur = state.get(op.key, initial)
        if op.f in ("read", "get"):
            op.output = cur
        elif op.f in ("write", "put"):
            state[op.key] = op.value
        elif op.f == "append":
            state[op.key] = cur + op.value
        elif op.f == "delete":
            state[op.key] = ""
        elif op.f == "cas":
            expected, new = op.value
            op.ok = cur == expected
            if op.ok:
                state[op.key] = new


def _records(sim: list[_SimOp]) -> list[dict[str, Any]]:
    recs: list[tuple[int, int, dict[str, Any]]] = []
    for n, op in enumerate(sim):
        base = {"process": op.process, "f": op.f, "key": op.key}
        recs.append(
            (op.call, 2 * n, {**base, "type": "invoke", "value": op.value, "time": op.call})
        )
        if op.timed_out:
            done = {**base, "type": "info", "value": op.value, "time": op.ret}
        elif not op.ok:
            done = {**base, "type": "fail", "value": op.value, "time": op.ret}
        else:
            out = op.output if op.f in ("read", "get") else op.value
            done = {**base, "type": "ok", "value": out, "time": op.ret}
        recs.append((op.ret, 2 * n + 1, done))
    recs.sort(key=lambda r: (r[0], r[1]))
    return [r for _, _, r in recs]


def mutate_read(rng: random.Random, records: list[dict[str, Any]], values: int = 5) -> bool:
    """Change one ok read's value in place (to another small value, or a string
    never written); returns False when the history has no ok read."""
    reads = [r for r in records if r["type"] == "ok" and r["f"] in ("read", "get")]
    if not reads:
        return False
    rec = rng.choice(reads)
    if rec["f"] == "read":
        choices = [v for v in [None, *range(values)] if v != rec["value"]]
        rec["value"] = rng.choice(choices)
    else:
        rec["value"] = (rec["value"] or "") + "x."
    return True


def hard_history(n: int = 22) -> list[dict[str, Any]]:
    """A history whose check is exponential: ``n`` concurrent writes that time out,
    then a read of a value never written, so the search must try every subset of
    the writes before it may say invalid. For time-budget tests and benchmarks."""
    recs: list[dict[str, Any]] = []
    for p in range(n):
        recs.append(
            {"process": p, "type": "invoke", "f": "write", "key": "x", "value": p, "time": p}
        )
    for p in range(n):
        recs.append(
            {"process": p, "type": "info", "f": "write", "key": "x", "value": p, "time": 100 + p}
        )
    recs.append(
        {"process": n, "type": "invoke", "f": "read", "key": "x", "value": None, "time": 200}
    )
    recs.append({"process": n, "type": "ok", "f": "read", "key": "x", "value": -1, "time": 300})
    return recs


def simulate_keys(
    rng: random.Random, *, keys: int, ops_per_key: int, clients_per_key: int = 5, **kw: Any
) -> list[dict[str, Any]]:
    """``keys`` independent single-key histories (each with its own clients) merged
    by time into one history: key ``k{i}``, processes ``i * 1000 + p``."""
    merged: list[tuple[int, int, int, dict[str, Any]]] = []
    for k in range(keys):
        part = simulate(rng, ops=ops_per_key, clients=clients_per_key, **kw)
        for n, rec in enumerate(part):
            rec["key"] = f"k{k}"
            rec["process"] = k * 1000 + rec["process"]
            merged.append((rec["time"], k, n, rec))
    merged.sort(key=lambda r: (r[0], r[1], r[2]))
    return [r[3] for r in merged]


def write_jsonl(records: list[dict[str, Any]], path: Any) -> None:
    """Write records as a history file."""
    import json

    with open(path, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
