"""Queue and set checkers: were acknowledged records lost, duplicated, or invented?

The core, ``check_records``, takes plain collections, so it serves any system
that hands out records (a queue, a set, a work queue whose records must be
done exactly once); ``check_queue`` and ``check_set`` read them from a history
the way Jepsen's queue and set checkers do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from distlab.checkers.history import History, Op
from distlab.checkers.values import show, thaw
from distlab.checkers.verdict import Verdict

EXAMPLES = 10  # records listed per kind of problem


@dataclass
class RecordsResult:
    """What happened to every record."""

    verdict: Verdict
    attempted: int
    acknowledged: int
    delivered: int  # distinct records delivered
    lost: list[Any] = field(default_factory=list)  # acknowledged, never delivered
    duplicated: dict[Any, int] = field(default_factory=dict)  # record -> times delivered
    unexpected: list[Any] = field(default_factory=list)  # delivered, never attempted
    recovered: list[Any] = field(default_factory=list)  # unacknowledged, delivered anyway

    def summary(self) -> str:
        """One line of counts, with a few examples of each problem."""
        text = (
            f"{self.verdict}: {self.attempted} attempted, {self.acknowledged} acknowledged, "
            f"{self.delivered} delivered; {len(self.lost)} lost, {len(self.duplicated)} duplicated, "
            f"{len(self.unexpected)} unexpected, {len(self.recovered)} recovered"
        )
        for name, items in (
            ("lost", self.lost),
            ("duplicated", list(self.duplicated)),
            ("unexpected", self.unexpected),
        ):
            if items:
                text += f"; {name} e.g. " + ", ".join(show(v) for v in items[:EXAMPLES])
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": str(self.verdict),
            "attempted": self.attempted,
            "acknowledged": self.acknowledged,
            "delivered": self.delivered,
            "lost": [thaw(v) for v in self.lost[:EXAMPLES]],
            "lost_count": len(self.lost),
            "duplicated": [[thaw(k), n] for k, n in list(self.duplicated.items())[:EXAMPLES]],
            "duplicated_count": len(self.duplicated),
            "unexpected": [thaw(v) for v in self.unexpected[:EXAMPLES]],
            "unexpected_count": len(self.unexpected),
            "recovered_count": len(self.recovered),
        }


def check_records(
    attempted: Iterable[Hashable],
    acknowledged: Iterable[Hashable],
    delivered: Iterable[Hashable],
    *,
    complete: bool = True,
) -> RecordsResult:
    """Judge deliveries against what was sent.

    ``attempted``: every record a client tried to add (acknowledged or not);
    ``acknowledged``: those the system confirmed; ``delivered``: every delivery,
    repeats included. ``complete=False`` when the consumer did not drain
    everything, so an undelivered record is not evidence of loss.
    """
    tried = set(attempted)
    acked = list(dict.fromkeys(acknowledged))
    tried.update(acked)
    counts = Counter(delivered)
    lost = [r for r in acked if r not in counts] if complete else []
    duplicated = {r: n for r, n in counts.items() if n > 1}
    unexpected = [r for r in counts if r not in tried]
    acked_set = set(acked)
    recovered = [r for r in counts if r in tried and r not in acked_set]
    bad = lost or duplicated or unexpected
    return RecordsResult(
        Verdict.INVALID if bad else Verdict.VALID,
        len(tried),
        len(acked),
        len(counts),
        lost,
        duplicated,
        unexpected,
        recovered,
    )


def _items(value: Any) -> list[Any]:
    # A dequeue or read may return one record, a batch, or nothing (null).
    if value is None:
        return []
    if isinstance(value, tuple):
        return list(value)
    return [value]


def check_queue(
    history: History,
    *,
    enqueue: str = "enqueue",
    dequeue: str = "dequeue",
    drained: bool = True,
) -> RecordsResult:
    """Every acknowledged enqueue dequeued exactly once (``drained``: the test
    emptied the queue at the end, so an undelivered record is lost)."""
    attempted, acked, delivered = [], [], []
    for op in history.ops:
        if op.f == enqueue:
            attempted.append(op.value)
            if op.type == "ok":
                acked.append(op.value)
        elif op.f == dequeue and op.type == "ok":
            delivered.extend(_items(op.output))
    return check_records(attempted, acked, delivered, complete=drained)


def check_set(history: History, *, add: str = "add", read: str = "read") -> RecordsResult:
    """Jepsen's set checker: the last successful read must hold every acknowledged add
    and nothing never added; a record listed twice in it is duplicated."""
    attempted, acked = [], []
    last: Op | None = None
    for op in history.ops:
        if op.f == add:
            attempted.append(op.value)
            if op.type == "ok":
                acked.append(op.value)
        elif (
            op.f == read and op.type == "ok" and (last is None or (op.end or 0) >= (last.end or 0))
        ):
            last = op  # the read that completed last (ok ops always have an end time)
    if last is None:
        # Without a final read nothing can be judged lost.
        return check_records(attempted, acked, [], complete=False)
    return check_records(attempted, acked, _items(last.output))
