"""Transactional consistency of a history, in the manner of Adya and Elle.

1. **Version orders.** list-append: every committed read of a key is a
   prefix of the key's final list, so the longest read is the order and each
   other read must be a prefix of it (else ``incompatible-order``); appends
   nobody read come after it. rw-register: the initial version (``null``)
   precedes every write, and a transaction that read ``v`` and then wrote
   ``w`` put ``w`` after ``v``.
2. **Dependency graph** (``txn_graph``): ``ww`` (next version), ``wr`` (read
   a version), ``rw`` (read a version, another installed a later one: an
   anti-dependency) and, for strict serializability, ``rt`` (completed before
   the other began).
3. **Cycles**: strongly connected components (Tarjan), then the shortest
   cycle of each kind: G0 (write cycles), G1c (ww/wr), G-single (exactly one
   rw), G2-item (two or more); ``-realtime`` when the cycle needs ``rt``.
4. **Non-cycle anomalies**: G1a (read of a failed transaction's write), G1b
   (read of a transaction's intermediate write), internal (a read that misses
   its own transaction's earlier write), garbage reads, duplicated list
   elements, incompatible orders.

Every edge is one the database must respect (a sound inference); a cycle is
a proof that no order of the transactions explains what they saw. The
consistency model decides which anomalies make the history invalid.
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from distlab.checkers.history import History
from distlab.checkers.txn import ListAppend, Txn, TxnModel
from distlab.checkers.txn_graph import (
    RT,
    RW,
    WR,
    WW,
    Graph,
    Step,
    shortest_cycle,
    shortest_cycle_with_one,
    strongly_connected,
)
from distlab.checkers.values import show
from distlab.checkers.verdict import Verdict

ALWAYS = ("internal", "incompatible-order", "garbage-read", "duplicate-elements")
_RC = ("G0", "G1a", "G1b", "G1c")
_SI = (*_RC, "G-single")
_SER = (*_SI, "G2-item")
# What each consistency model forbids (besides ALWAYS); PostgreSQL's levels
# are read-committed, snapshot-isolation (REPEATABLE READ) and serializable.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "read-committed": _RC,
    "snapshot-isolation": _SI,
    "serializable": _SER,
    "strict-serializable": (
        *_SER,
        *(f"{k}-realtime" for k in ("G0", "G1c", "G-single", "G2-item")),
    ),
}
CONSISTENCY_MODELS = tuple(FORBIDDEN)


@dataclass
class Edge:
    """One dependency in a cycle, with what in the history makes it so."""

    src: Txn
    dst: Txn
    kind: str
    why: str


@dataclass
class Anomaly:
    """One anomaly: its kind, the transactions involved, and (for a cycle) the edges."""

    kind: str
    txns: list[Txn]
    why: str
    edges: list[Edge] = field(default_factory=list)
    forbidden: bool = True
    consistency: str = "serializable"

    def text(self) -> str:
        """The anomaly as indented lines a person can follow."""
        verdict = "forbidden" if self.forbidden else "allowed"
        out = [f"{self.kind}: {self.why} ({verdict} under {self.consistency})"]
        for t in self.txns:
            out.append(f"    {describe(t)}")
        for e in self.edges:
            out.append(f"    {e.src.name()} -{e.kind}-> {e.dst.name()}  {e.why}")
        if self.edges:
            names = [e.src.name() for e in self.edges] + [self.edges[0].src.name()]
            out.append(f"    so {' < '.join(names)}: no order of these transactions explains it")
        return "\n".join(out)


@dataclass
class TxnResult:
    """The verdict for a transactional history under one consistency model."""

    model: str
    consistency: str
    verdict: Verdict
    anomalies: list[Anomaly]
    txns: int
    committed: int
    elapsed_s: float = 0.0
    reason: str = ""

    @property
    def forbidden(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.forbidden]

    def kinds(self) -> dict[str, int]:
        """How many anomalies of each kind were found (forbidden or not)."""
        counts: dict[str, int] = defaultdict(int)
        for a in self.anomalies:
            counts[a.kind] += 1
        return dict(sorted(counts.items()))

    def summary(self) -> str:
        """One line: verdict, counts, and the anomaly kinds."""
        text = (
            f"{self.verdict} ({self.txns} txns, {self.committed} committed, model {self.model}, "
            f"{self.consistency})"
        )
        if self.reason:
            text += f"; {self.reason}"
        bad = sorted({a.kind for a in self.forbidden})
        ok = sorted({a.kind for a in self.anomalies if not a.forbidden})
        if bad:
            text += f"; anomalies: {', '.join(bad)}"
        if ok:
            text += f"; allowed under {self.consistency}: {', '.join(ok)}"
        return text

    def report(self, limit: int = 3) -> str:
        """The summary and up to ``limit`` anomalies of each kind, forbidden first."""
        parts = [self.summary()]
        shown: dict[str, int] = defaultdict(int)
        for a in sorted(
            self.anomalies, key=lambda a: (not a.forbidden, a.kind, len(a.edges), len(a.txns))
        ):
            shown[a.kind] += 1
            if shown[a.kind] <= limit:
                parts.append(a.text())
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "model": self.model,
            "consistency": self.consistency,
            "verdict": str(self.verdict),
            "txns": self.txns,
            "committed": self.committed,
            "elapsed_s": self.elapsed_s,
            "reason": self.reason,
            "anomalies": [
                {
                    "kind": a.kind,
                    "forbidden": a.forbidden,
                    "why": a.why,
                    "txns": [t.id for t in a.txns],
                    "lines": [t.op.line for t in a.txns],
                    "edges": [[e.src.id, e.kind, e.dst.id, e.why] for e in a.edges],
                }
                for a in self.anomalies
            ],
        }


def describe(t: Txn) -> str:
    """``T3 p1 ok [append x 1, r y [1 2]]  line 5-6``."""
    mops = ", ".join(
        f"{m.f} {show(m.key)} {'?' if m.f == 'r' and t.status != 'ok' else _tail(m.value)}"
        for m in t.mops
    )
    lines = f"line {t.op.line}" + (f"-{t.op.end_line}" if t.op.end_line else "")
    return f"{t.name()} p{t.op.process} {t.status} [{mops}]  {lines}"


def _tail(value: Any, keep: int = 4) -> str:
    """A list read by its end, which is what says which version it saw:
    ``[...37 earlier, 210, 227, 240]``."""
    if type(value) is tuple and len(value) > keep + 2:
        last = ", ".join(show(v) for v in value[-keep:])
        return f"[...{len(value) - keep} earlier, {last}]"
    return show(value)


class Text(str):
    """Words already rendered, kept as they are in an edge's reason."""


def _render(template: str, args: tuple[Any, ...]) -> str:
    shown = [
        a.name() if isinstance(a, Txn) else a if isinstance(a, Text) else _tail(a) for a in args
    ]
    return template.format(*shown)


class _Inference:
    """Edges with their reasons, and the anomalies found on the way."""

    def __init__(self) -> None:
        self.graph = Graph()
        # An edge's reason as a template and its arguments: rendered only for
        # the edges of a reported cycle (a history has ~10 edges per transaction).
        self.why: dict[tuple[int, int, str], tuple[str, tuple[Any, ...]]] = {}
        self.anomalies: list[Anomaly] = []

    def edge(self, a: Txn, b: Txn, kind: str, template: str, *args: Any) -> None:
        if a.id == b.id:
            return
        self.graph.add(a.id, b.id, kind)
        self.why.setdefault((a.id, b.id, kind), (template, args))

    def reason(self, a: int, b: int, kind: str) -> str:
        return _render(*self.why[(a, b, kind)])

    def anomaly(self, kind: str, txns: list[Txn], why: str) -> None:
        self.anomalies.append(Anomaly(kind, txns, why))


def check_transactions(
    history: History, model: TxnModel, consistency: str = "serializable"
) -> TxnResult:
    """Check a transactional history; ``consistency`` is one of ``CONSISTENCY_MODELS``."""

    if consistency not in FORBIDDEN:
        raise ValueError(
            f"unknown consistency model {consistency!r}; choose one of "
            f"{', '.join(CONSISTENCY_MODELS)}"
        )
    start = time.monotonic()
    # Hundreds of thousands of edges and no reference cycles: the collector
    # would only slow the build down.
    enabled = gc.isenabled()
    gc.disable()
    try:
        txns, inf = _infer(history, model, consistency)
    finally:
        if enabled:
            gc.enable()
    forbidden = set(FORBIDDEN[consistency]) | set(ALWAYS)

    for a in inf.anomalies:
        a.forbidden = a.kind in forbidden
        a.consistency = consistency
    committed = sum(t.status == "ok" for t in txns)
    if any(a.forbidden for a in inf.anomalies):
        verdict, reason = Verdict.INVALID, ""
    elif committed == 0:
        # Nothing committed, nothing shown: an empty history is not valid.
        verdict, reason = Verdict.UNKNOWN, "no committed transactions"
    else:
        verdict, reason = Verdict.VALID, ""
    return TxnResult(
        model.name,
        consistency,
        verdict,
        inf.anomalies,
        len(txns),
        committed,
        time.monotonic() - start,
        reason,
    )


def _infer(history: History, model: TxnModel, consistency: str) -> tuple[list[Txn], _Inference]:
    from distlab.checkers.txn import transactions

    txns = transactions(history, model)
    inf = _Inference()
    if isinstance(model, ListAppend):
        _list_append(txns, inf)
    else:
        _rw_register(txns, inf)
    if consistency == "strict-serializable":
        _realtime(txns, inf)
    _cycles(txns, inf)
    return txns, inf


def _list_append(txns: list[Txn], inf: _Inference) -> None:
    # (key, value) -> the transaction that appended it, and where among its
    # appends to that key (to spot intermediate reads)
    writer: dict[tuple[Hashable, Any], Txn] = {}
    appends: dict[tuple[int, Hashable], list[Any]] = defaultdict(list)
    appenders: dict[Hashable, list[Txn]] = defaultdict(list)
    for t in txns:
        for m in t.mops:
            if m.f == "append":
                writer[(m.key, m.value)] = t
                if (t.id, m.key) not in appends:
                    appenders[m.key].append(t)
                appends[(t.id, m.key)].append(m.value)
    # Every committed read: (reader, key, what it saw, the part not its own)
    reads: dict[Hashable, list[tuple[Txn, tuple[Any, ...], tuple[Any, ...] | None]]] = defaultdict(
        list
    )
    for t in txns:
        if t.status != "ok":
            continue
        own: dict[Hashable, list[Any]] = defaultdict(list)
        for m in t.mops:
            if m.f == "append":
                own[m.key].append(m.value)
                continue
            seen: tuple[Any, ...] = m.value or ()
            mine = own[m.key]
            external: tuple[Any, ...] | None = seen[: len(seen) - len(mine)]
            if mine and list(seen[len(seen) - len(mine) :]) != mine:
                inf.anomaly(
                    "internal",
                    [t],
                    f"{t.name()} read {show(m.key)} = {_tail(seen)} after appending "
                    f"{show(mine)} itself, which the read does not end with",
                )
                external = None
            reads[m.key].append((t, seen, external))
    # An info transaction one of whose appends was read did commit: its
    # other appends are in the version orders too.
    committed = {t.id for t in txns if t.status == "ok"}
    for key, key_reads in reads.items():
        for _, seen, _ in key_reads:
            for v in seen:
                w = writer.get((key, v))
                if w is not None and w.status == "info":
                    committed.add(w.id)
    for key, key_reads in reads.items():
        _list_key(key, key_reads, writer, appends, appenders, committed, inf)


def _list_key(
    key: Hashable,
    key_reads: list[tuple[Txn, tuple[Any, ...], tuple[Any, ...] | None]],
    writer: dict[tuple[Hashable, Any], Txn],
    appends: dict[tuple[int, Hashable], list[Any]],
    appenders: dict[Hashable, list[Txn]],
    committed: set[int],
    inf: _Inference,
) -> None:
    k = Text(f"key {show(key)}")
    usable = True
    for t, seen, _ in key_reads:
        if len(set(seen)) != len(seen):
            inf.anomaly("duplicate-elements", [t], f"{t.name()} read {k} = {_tail(seen)}")
            usable = False
        for v in seen:
            w = writer.get((key, v))
            if w is None:
                inf.anomaly(
                    "garbage-read", [t], f"{t.name()} read {show(v)} in {k}; nobody appended it"
                )
                usable = False
            elif w.status == "fail":
                inf.anomaly(
                    "G1a",
                    [t, w],
                    f"{t.name()} read {show(v)} in {k}, appended by {w.name()}, which failed",
                )
    longest = max((seen for _, seen, _ in key_reads), key=len)
    for t, seen, _ in key_reads:
        if longest[: len(seen)] != seen:
            other = next(r for r, s, _ in key_reads if s == longest)
            inf.anomaly(
                "incompatible-order",
                [t, other],
                f"{t.name()} read {k} = {_tail(seen)} but {other.name()} read {_tail(longest)}; "
                "neither is a prefix of the other",
            )
            usable = False
    if not usable:
        return  # no trustworthy version order: no edges from this key
    order = longest
    where = {v: i for i, v in enumerate(order)}
    # Committed appends nobody read come after every read one.
    tail = [
        t
        for t in appenders.get(key, ())
        if t.id in committed and any(v not in where for v in appends[(t.id, key)])
    ]
    for i in range(1, len(order)):
        a, b = writer[(key, order[i - 1])], writer[(key, order[i])]
        inf.edge(
            a,
            b,
            WW,
            "{} appended {} to {} right after {}",
            b,
            order[i],
            k,
            order[i - 1],
        )
    if order:
        last = writer[(key, order[-1])]
        for b in tail:
            inf.edge(last, b, WW, "{} appended to {} after {} (never read)", b, k, order[-1])
    for t, _, external in key_reads:
        if external is None:
            continue
        if external:
            v = external[-1]
            w = writer[(key, v)]
            inf.edge(
                w,
                t,
                WR,
                "{} read {} = {}, ending in {}'s {}",
                t,
                k,
                external,
                w,
                v,
            )
            later = appends[(w.id, key)]
            if w.id != t.id and later[-1] != v:
                inf.anomaly(
                    "G1b",
                    [t, w],
                    f"{t.name()} read {k} = {_tail(external)}, ending in {show(v)}: an intermediate "
                    f"state of {w.name()}, which appended {show(later[later.index(v) + 1])} after it",
                )
        n = len(external)
        if n < len(order):
            nxt = writer[(key, order[n])]
            inf.edge(
                t,
                nxt,
                RW,
                "{} read {} = {}; {} appended {}, the next version",
                t,
                k,
                external,
                nxt,
                order[n],
            )
        else:
            for b in tail:
                unread = [v for v in appends[(b.id, key)] if v not in where]
                inf.edge(
                    t,
                    b,
                    RW,
                    "{} read {} = {}; {} appended {}, which no read saw, so after it",
                    t,
                    k,
                    external,
                    b,
                    unread[0],
                )


def _rw_register(txns: list[Txn], inf: _Inference) -> None:
    writer: dict[tuple[Hashable, Any], Txn] = {}
    writes: dict[tuple[int, Hashable], list[Any]] = defaultdict(list)
    for t in txns:
        for m in t.mops:
            if m.f == "w":
                writer[(m.key, m.value)] = t
                writes[(t.id, m.key)].append(m.value)
    # (key, version read) -> transactions that read it and then wrote the key:
    # their writes follow that version.
    after: dict[tuple[Hashable, Any], list[Txn]] = defaultdict(list)
    committed_writers: dict[Hashable, list[Txn]] = defaultdict(list)
    external_reads: list[tuple[Txn, Hashable, Any]] = []
    # An info transaction whose write someone read did commit.
    seen_by_ok = {(m.key, m.value) for t in txns if t.status == "ok" for m in t.mops if m.f == "r"}
    for t in txns:
        committed = t.status == "ok" or (
            t.status == "info"
            and any(m.f == "w" and (m.key, m.value) in seen_by_ok for m in t.mops)
        )
        if committed:
            for key in dict.fromkeys(m.key for m in t.mops if m.f == "w"):
                committed_writers[key].append(t)
        if t.status != "ok":
            continue
        own: dict[Hashable, Any] = {}
        first_read: dict[Hashable, Any] = {}
        for m in t.mops:
            if m.f == "w":
                if m.key in first_read and m.key not in own:
                    after[(m.key, first_read[m.key])].append(t)
                own[m.key] = m.value
            elif m.key in own:
                if m.value != own[m.key]:
                    inf.anomaly(
                        "internal",
                        [t],
                        f"{t.name()} read {show(m.key)} = {show(m.value)} after writing "
                        f"{show(own[m.key])} itself",
                    )
            else:
                first_read.setdefault(m.key, m.value)
                external_reads.append((t, m.key, m.value))
    for t, key, v in external_reads:
        k = Text(f"key {show(key)}")
        wrote_key = (t.id, key) in writes
        if v is None:
            # the initial version precedes every committed write of the key
            later = committed_writers.get(key, [])
        else:
            w = writer.get((key, v))
            if w is None:
                inf.anomaly(
                    "garbage-read", [t], f"{t.name()} read {k} = {show(v)}; nobody wrote it"
                )
                continue
            if w.status == "fail":
                inf.anomaly(
                    "G1a",
                    [t, w],
                    f"{t.name()} read {k} = {show(v)}, written by {w.name()}, which failed",
                )
                continue
            mine = writes[(w.id, key)]
            if w.id != t.id and mine[-1] != v:
                inf.anomaly(
                    "G1b",
                    [t, w],
                    f"{t.name()} read {k} = {show(v)}: an intermediate write of {w.name()}, which "
                    f"then wrote {show(mine[mine.index(v) + 1])}",
                )
            inf.edge(w, t, WR, "{} read {} = {}, written by {}", t, k, v, w)
            later = after.get((key, v), [])
            for b in later:
                inf.edge(w, b, WW, "{} read {} = {} of {}, then wrote {}", b, k, v, w, k)
        if wrote_key:
            # t's own write to the key may sit between: the anti-dependency
            # could be a write dependency, so none is claimed.
            continue
        for b in later:
            value = writes[(b.id, key)][0]
            if v is None:
                inf.edge(
                    t,
                    b,
                    RW,
                    "{} read {} = null (never written); {} wrote {} over it",
                    t,
                    k,
                    b,
                    value,
                )
            else:
                inf.edge(
                    t, b, RW, "{} read {} = {}; {} read it too and then wrote {}", t, k, v, b, value
                )


def _realtime(txns: list[Txn], inf: _Inference) -> None:
    """``rt`` edges: a committed transaction precedes every one invoked after it
    completed. Only the frontier (completed, not yet followed) gets an edge to
    a new transaction; the rest follow by transitivity."""
    events: list[tuple[float, int, Txn]] = []
    for t in txns:
        if t.status == "fail":
            continue
        events.append((t.op.call, 0, t))  # invokes first: equal times are concurrent
        if t.status == "ok" and t.op.ret is not None:
            events.append((t.op.ret, 1, t))
    events.sort(key=lambda e: (e[0], e[1], e[2].id))
    frontier: dict[int, Txn] = {}
    preds: dict[int, list[int]] = {}
    for _, kind, t in events:
        if kind == 0:
            preds[t.id] = list(frontier)
            for p in frontier.values():
                inf.edge(
                    p,
                    t,
                    RT,
                    "{} completed (line {}) before {} began (line {})",
                    p,
                    Text(str(p.op.end_line)),
                    t,
                    Text(str(t.op.line)),
                )
        else:
            for gone in preds.get(t.id, []):
                frontier.pop(gone, None)
            frontier[t.id] = t


def _name(steps: list[Step]) -> str:
    kinds = [k for _, _, k in steps]
    rw = kinds.count(RW)
    names = {0: "G1c" if WR in kinds else "G0", 1: "G-single"}
    base = names.get(rw, "G2-item")
    return base + ("-realtime" if RT in kinds else "")


def _cycles(txns: list[Txn], inf: _Inference) -> None:
    graph = inf.graph
    realtime = any(RT in kinds for _, _, kinds in graph.edges())
    for members in strongly_connected(graph):
        found: dict[str, list[Step]] = {}
        searches: list[list[Step] | None] = [
            shortest_cycle(graph, members, (WW,)),
            shortest_cycle(graph, members, (WW, WR)),
            shortest_cycle_with_one(graph, members, RW, (WW, WR)),
            shortest_cycle(graph, members, (WW, WR, RW)),
        ]
        if realtime:
            searches += [
                shortest_cycle(graph, members, (WW, WR, RT)),
                shortest_cycle_with_one(graph, members, RW, (WW, WR, RT)),
                shortest_cycle(graph, members, (WW, WR, RW, RT)),
            ]
        for steps in searches:
            if steps:
                found.setdefault(_name(steps), steps)
        for kind, steps in found.items():
            edges = [Edge(txns[a], txns[b], k, inf.reason(a, b, k)) for a, b, k in steps]
            n_rw = sum(k == RW for _, _, k in steps)
            why = f"a cycle of {len(steps)} transactions"
            why += f" with {n_rw} anti-dependenc{'y' if n_rw == 1 else 'ies'}" if n_rw else ""
            inf.anomalies.append(Anomaly(kind, [e.src for e in edges], why, edges))
