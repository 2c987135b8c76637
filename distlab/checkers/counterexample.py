"""Why a key is not linearizable, as text a person can follow."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from distlab.checkers.history import Op
from distlab.checkers.models import ILLEGAL, Model
from distlab.checkers.values import show

TAIL = 4  # linearized ops shown before the point where the search got stuck
RUNNING = "running"  # the type of an op that had not completed when the prefix ends


@dataclass
class Counterexample:
    """The shortest invalid prefix of one key's history and how far it linearizes."""

    key: Hashable
    model: Model
    ops: list[Op]  # every op of the prefix (running ops at the cut are info)
    cut: int | float  # the prefix ends at this completion time
    longest: list[Op]  # the longest linearization the search found, in order
    blocked: Op | None  # the op that had to take effect next and could not
    history: list[Op] = field(default_factory=list)  # the key's whole history, for context

    def final_state(self) -> Any:
        """The model state after the longest linearization."""
        state = self.model.init()
        for op in self.longest:
            nxt = self.model.compile(op.f, op.value, op.output)(state)
            if nxt is ILLEGAL:  # cannot happen for a linearization the search found
                break
            state = nxt
        return state

    def involved(self) -> list[Op]:
        """The ops worth looking at: the tail of the longest linearization and every
        op of the prefix left out of it (the blocked op among them)."""
        placed = {op.index for op in self.longest}
        tail = self.longest[-TAIL:]
        rest = [op for op in self.ops if op.index not in placed]
        return sorted({op.index: op for op in [*tail, *rest]}.values(), key=lambda o: o.call)

    def window(self) -> tuple[int | float, int | float]:
        """The span worth zooming into: from the earliest of the last linearized
        ops, the blocked op and the completed ops concurrent with it, to the cut.
        (An op with no completion is concurrent with everything after its
        invoke, so it does not widen the window; it is drawn where it shows.)"""
        focus = [op for op in self.longest[-TAIL:] if op.ret is not None]
        if self.blocked is not None:
            b = self.blocked
            end = self.cut if b.ret is None else b.ret
            focus.append(b)
            focus += [
                op for op in self.ops if op.ret is not None and op.call <= end and op.ret >= b.call
            ]
        if not focus:
            focus = self.ops
        start = min((op.call for op in focus), default=self.cut)
        return start, self.cut

    def unit(self) -> tuple[str, float]:
        """A time unit that suits the prefix's span: (name, nanoseconds in it)."""
        t0 = self.ops[0].call if self.ops else 0
        span = self.cut - t0
        for name, size in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
            if span >= size:
                return name, size
        return "ns", 1.0

    def describe(self, op: Op) -> str:
        """``p3 write 5  [12.000, 15.500] ms  line 7-9``, times relative to the first op."""
        t0 = self.ops[0].call if self.ops else 0
        name, size = self.unit()
        start = f"{(op.call - t0) / size:.3f}".rstrip("0").rstrip(".")
        end = "..." if op.ret is None else f"{(op.ret - t0) / size:.3f}".rstrip("0").rstrip(".")
        lines = f"line {op.line}" + (f"-{op.end_line}" if op.end_line else "")
        what = self.model.describe(op.f, op.value, op.output)
        kind = {"ok": "", RUNNING: " (running at the cut)"}.get(op.type, f" ({op.type})")
        return f"p{op.process} {what}{kind}  [{start}, {end}] {name}  {lines}"

    def text(self) -> str:
        """The counterexample as indented lines."""
        t0 = self.ops[0].call if self.ops else 0
        name, size = self.unit()
        out = [
            f"key {show(self.key)}: not linearizable; the first "
            f"{(self.cut - t0) / size:.3f} {name} of its history ({len(self.ops)} ops) "
            "already have no linearization"
        ]
        if self.longest:
            out.append(
                f"  longest linearizable prefix: {len(self.longest)} ops, "
                f"state after it {show(self.final_state())}"
            )
            skipped = len(self.longest) - TAIL
            if skipped > 0:
                out.append(f"    ... {skipped} earlier ops")
            for n, op in enumerate(self.longest[-TAIL:], max(1, skipped + 1)):
                out.append(f"    {n:>3}. {self.describe(op)}")
        else:
            out.append(f"  state at the start {show(self.model.init())}")
        if self.blocked is not None:
            out.append("  then this op must take effect and cannot:")
            out.append(f"         {self.describe(self.blocked)}")
        left = [op for op in self.involved() if op not in self.longest and op is not self.blocked]
        if left:
            out.append("  other ops not yet placed:")
            out.extend(f"         {self.describe(op)}" for op in left[:10])
            if len(left) > 10:
                out.append(f"         ... and {len(left) - 10} more")
        return "\n".join(out)
