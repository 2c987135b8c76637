"""Reading a whole history file in one go: the fast path of ``history.load``.

msgspec decodes every line of the buffer at once into typed records
(``decode_lines``), checking in C that ``type`` is one of the four, ``time``
a number, ``process`` an integer or string and ``f`` a string; integers of
any size stay exact. A tight loop then pairs invokes with completions.

This path only ever accepts: anything it does not like (malformed JSON, a
wrong type, blank lines, NaN, a torn last line, time going backwards, an
unmatched completion, a value of the wrong shape) makes it give up, and
``history.parse_lines`` -- the reference, one line at a time -- reads the
file again and names the exact line. So both paths accept the same files
and build the same ``History``; a test holds them to that.
"""

from __future__ import annotations

import gc
from typing import Any, Literal

import msgspec

from distlab.checkers.history import NEMESIS, History, NemesisRecord, Op
from distlab.checkers.models import UNKNOWN, Model
from distlab.checkers.values import freeze

_INF = float("inf")
_SCALARS = frozenset({int, str, float, type(None)})


class Record(msgspec.Struct, gc=False):
    """One line of a history; other fields are ignored."""

    process: int | str
    type: Literal["invoke", "ok", "fail", "info"]
    f: str
    time: int | float
    key: Any = None
    value: Any = None


_DECODER = msgspec.json.Decoder(Record)


class GiveUp(Exception):
    """The fast path declines the file; the line-by-line reader decides."""


def parse(buf: bytes, source: str, model: Model | None) -> History:
    """The history in ``buf`` (a whole file), or ``GiveUp``."""
    if not buf.endswith(b"\n") or b"\n\n" in buf or buf.startswith(b"\n"):
        raise GiveUp  # torn tail or blank lines: line numbers need the slow path
    # Millions of new objects and no garbage among them: the collector's
    # passes over them would cost about a third of the parse.
    enabled = gc.isenabled()
    gc.disable()
    try:
        try:
            records = _DECODER.decode_lines(buf)
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise GiveUp from None
        if len(records) != buf.count(b"\n"):
            raise GiveUp  # whitespace-only lines would shift line numbers
        return _build(records, source, model)
    finally:
        if enabled:
            gc.enable()


def _build(records: list[Record], source: str, model: Model | None) -> History:
    history = History(source)
    ops = history.ops
    open_ops: dict[Any, Op] = {}
    functions = None if model is None else model.functions
    validate = None
    if model is not None and type(model).validate is not Model.validate:
        validate = model.validate
    scalars = _SCALARS
    last: int | float = -1
    for line, rec in enumerate(records, 1):
        t = rec.time
        if not last <= t < _INF:  # backwards, NaN (from no JSON, but be sure) or inf
            raise GiveUp
        last = t
        process, f, kind = rec.process, rec.f, rec.type
        if process == NEMESIS:
            history.nemesis.append(NemesisRecord(kind, f, freeze(rec.value), t, line))
            continue
        if functions is not None and f not in functions:
            raise GiveUp
        if kind == "invoke":
            if process in open_ops:
                raise GiveUp
            key, value = rec.key, rec.value
            if type(key) not in scalars:
                key = freeze(key)
            if type(value) not in scalars:
                value = freeze(value)
            op = Op(len(ops), process, f, key, value, UNKNOWN, "info", t, None, line)
            if validate is not None:
                try:
                    validate(f, value, UNKNOWN, False)
                except ValueError:
                    raise GiveUp from None
            open_ops[process] = op
            ops.append(op)
            continue
        op_or_none = open_ops.pop(process, None)
        if op_or_none is None or op_or_none.f != f:
            raise GiveUp
        op = op_or_none
        op.type, op.end, op.end_line = kind, t, line
        if kind == "info":
            continue
        op.ret = t
        if kind == "ok":
            out = rec.value
            op.output = out if type(out) in scalars else freeze(out)
        else:
            op.output = None
        if validate is not None:
            try:
                validate(f, op.value, op.output, kind == "ok")
            except ValueError:
                raise GiveUp from None
    if not ops and not history.nemesis:
        raise GiveUp
    return history
