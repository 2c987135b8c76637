"""Transaction histories: the ``list-append`` and ``rw-register`` models.

Same JSON-lines format as the other models (DESIGN.md, "History"); an op has
``"f": "txn"`` and its value is a list of micro-ops::

    {"process": 1, "type": "invoke", "f": "txn", "value": [["append", "x", 3], ["r", "y", null]], "time": 10}
    {"process": 1, "type": "ok",     "f": "txn", "value": [["append", "x", 3], ["r", "y", [1, 2]]], "time": 20}

- list-append: ``["append", k, v]`` appends ``v`` to the list at ``k``;
  ``["r", k, null]`` on invoke, the list read on ``ok`` (``null`` = empty).
- rw-register: ``["w", k, v]`` writes; ``["r", k, null]`` on invoke, the value
  read on ``ok`` (``null`` = never written).

Values written to a key must be unique (so a read names its writer). These
classes only read and validate; ``distlab.checkers.transactions`` judges.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from distlab.checkers.history import History, HistoryError, Op
from distlab.checkers.models import UNKNOWN, Model
from distlab.checkers.values import show


@dataclass(frozen=True, slots=True)
class MicroOp:
    """One read or write inside a transaction."""

    f: str  # "r", "append" or "w"
    key: Hashable
    value: Any  # written value; for a read: what it saw (None if unknown)


class TxnModel(Model):
    """A transaction model: knows its micro-op functions and their shapes."""

    write_f = ""
    functions = frozenset({"txn"})

    def init(self) -> Hashable:
        return None

    def validate(self, f: str, value: Any, output: Any, completed: bool) -> None:
        _micro_ops(value, self.write_f, "value")
        if completed and output is not UNKNOWN and output is not None:
            done = _micro_ops(output, self.write_f, "completion value")
            if len(done) != len(value) or any(
                (a[0], a[1]) != (b[0], b[1]) or (a[0] != "r" and a[2] != b[2])
                for a, b in zip(value, done, strict=False)
            ):
                raise ValueError(
                    f"completion micro-ops {show(output)} do not match the invoke's {show(value)}"
                )
            for m in done:
                if m[0] == "r":
                    self.validate_read(m[2])

    def validate_read(self, seen: Any) -> None:
        """Raise ``ValueError`` if a read's value has the wrong shape."""

    def step(self, state: Hashable, f: str, value: Any, output: Any) -> tuple[bool, Hashable]:
        raise TypeError(f"the {self.name} model is checked with check_transactions")


class ListAppend(TxnModel):
    """Lists per key: ``append`` and ``r`` (the whole list)."""

    name = "list-append"
    write_f = "append"

    def validate_read(self, seen: Any) -> None:
        if seen is not None and type(seen) is not tuple:
            raise ValueError(f"a list-append read must return a list or null, got {show(seen)}")


class RwRegister(TxnModel):
    """Registers per key: ``w`` and ``r``."""

    name = "rw-register"
    write_f = "w"


TXN_MODELS: dict[str, TxnModel] = {"list-append": ListAppend(), "rw-register": RwRegister()}


def _micro_ops(value: Any, write_f: str, what: str) -> tuple[Any, ...]:
    if type(value) is not tuple or not value:
        raise ValueError(f"a txn {what} must be a non-empty list of micro-ops, got {show(value)}")
    for m in value:
        if type(m) is not tuple or len(m) != 3 or m[0] not in ("r", write_f):
            raise ValueError(
                f'a micro-op must be ["r", key, value] or ["{write_f}", key, value], got {show(m)}'
            )
    return value


@dataclass(slots=True)
class Txn:
    """One transaction: its op and its micro-ops (with what reads saw, if ok)."""

    id: int  # position in invoke order; T<id> in reports
    op: Op
    mops: list[MicroOp]
    status: str = ""  # ok (committed), fail (did not happen) or info (may have)

    def __post_init__(self) -> None:
        self.status = self.op.type

    def name(self) -> str:
        return f"T{self.id}"


def transactions(history: History, model: TxnModel) -> list[Txn]:
    """The history's transactions; ``HistoryError`` if a value is written twice."""
    txns: list[Txn] = []
    writers: dict[tuple[Hashable, Any], Op] = {}
    for op in history.ops:
        ok = op.type == "ok" and op.output is not UNKNOWN and op.output is not None
        source = op.output if ok else op.value
        mops = []
        for f, key, value in source:
            if f == "r":
                mops.append(MicroOp("r", key, value if ok else None))
                continue
            first = writers.get((key, value))
            writers[(key, value)] = op
            if first is not None:
                raise HistoryError(
                    f"{history.source}:{op.line}: {show(value)} is written to key {show(key)} "
                    f"twice (first on line {first.line}); {model.name} needs unique values per key"
                )
            mops.append(MicroOp(f, key, value))
        txns.append(Txn(len(txns), op, mops))
    return txns
