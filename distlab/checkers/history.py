"""Histories: read and validate Jepsen-style JSON-lines files into operations.

One JSON object per line (DESIGN.md, "History")::

    {"process": 3, "type": "invoke", "f": "write", "key": "x", "value": 5, "time": 1234567}

``type`` is ``invoke | ok | fail | info``; a completion belongs to its
process's last invoke; ``time`` is in nanoseconds and never goes backwards.
An invoke with no completion by the end of the file counts as ``info``.
Records of process ``"nemesis"`` are fault markers (see ``distlab.checkers.stats``),
not operations.

Every mistake in a file is one ``HistoryError`` naming the line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from distlab.checkers.models import UNKNOWN, Model
from distlab.checkers.values import freeze, show
from distlab.errors import UsageError

# 3-6x faster per line; json stays the reference (and gives the error messages).
_fast_loads: Callable[[str], Any] = orjson.loads

TYPES = ("invoke", "ok", "fail", "info")
_INF = float("inf")
_LONG_NUMBER = re.compile(r"\d{20}")
NEMESIS = "nemesis"


def _show_time(t: Any) -> str:
    # json.dumps would print NaN and Infinity as JSON they are not
    if type(t) is float and t != t:
        return "NaN"
    if type(t) is float and t in (_INF, -_INF):
        return "Infinity" if t > 0 else "-Infinity"
    return show(t)


class HistoryError(UsageError):
    """A history that cannot be read: the message names the file and line."""


@dataclass(slots=True)
class Op:
    """One operation: an invoke and its completion (if any)."""

    index: int  # position in invoke order
    process: int | str
    f: str
    key: Hashable
    value: Any  # the invoke's value (frozen)
    output: Any  # ok: the completion's value (frozen); info or pending: UNKNOWN
    type: str  # ok | fail | info (a pending op is info)
    call: int | float  # invoke time, ns
    ret: int | float | None  # ok/fail completion time, ns; None for info: open-ended
    line: int  # line of the invoke
    end: int | float | None = None  # time of the completion record, whatever its type
    end_line: int | None = None  # line of the completion

    @property
    def pending(self) -> bool:
        """No completion in the file: counts as info."""
        return self.end is None


@dataclass(slots=True)
class NemesisRecord:
    """A fault marker written by whoever injected faults (``process: "nemesis"``)."""

    type: str
    f: str
    value: Any
    time: int | float
    line: int


@dataclass
class History:
    """A validated history: operations in invoke order plus fault markers."""

    source: str
    ops: list[Op] = field(default_factory=list)
    nemesis: list[NemesisRecord] = field(default_factory=list)
    torn_tail: bool = False  # the file's unterminated last line was cut off and skipped

    def keys(self) -> list[Hashable]:
        """Distinct keys in first-seen order."""
        return list(dict.fromkeys(op.key for op in self.ops))

    def end_time(self) -> int | float:
        """The last time any record mentions."""
        times = [op.ret if op.ret is not None else op.call for op in self.ops]
        times += [n.time for n in self.nemesis]
        return max(times, default=0)


class _Builder:
    """Pairs invokes with completions, one record at a time, checking as it goes."""

    def __init__(self, source: str, model: Model | None) -> None:
        self.history = History(source)
        self.model = model
        self.open: dict[Any, Op] = {}
        self.last_time: int | float = -1
        self.last_time_line = 0

    def fail(self, line: int, message: str) -> HistoryError:
        return HistoryError(f"{self.history.source}:{line}: {message}")

    def add(self, rec: Any, line: int) -> None:
        # Exact type tests (bool is an int subclass and must be refused anyway)
        # are several times cheaper than isinstance with a union, and this
        # runs once per line of a possibly huge file.
        if type(rec) is not dict and not isinstance(rec, Mapping):
            raise self.fail(line, f"expected a JSON object, got {show(rec)}")
        kind = rec.get("type")
        if kind not in TYPES:
            raise self.fail(line, f"type must be one of {', '.join(TYPES)}, got {show(kind)}")
        t = rec.get("time")
        if (type(t) is not int and type(t) is not float) or not 0 <= t < _INF:
            # NaN fails every comparison, so it would switch off the
            # backwards-time check for the rest of the file: refused, as is inf.
            raise self.fail(
                line, f"time must be a finite number of nanoseconds >= 0, got {_show_time(t)}"
            )
        if t < self.last_time:
            raise self.fail(
                line,
                f"time goes backwards: {t} is before {self.last_time} on line {self.last_time_line}",
            )
        self.last_time, self.last_time_line = t, line
        process = rec.get("process")
        if type(process) is not int and type(process) is not str:
            raise self.fail(line, f"process must be an integer or a string, got {show(process)}")
        f = rec.get("f")
        if type(f) is not str:
            raise self.fail(line, f"f must be a string, got {show(f)}")
        if process == NEMESIS:
            self.history.nemesis.append(NemesisRecord(kind, f, freeze(rec.get("value")), t, line))
            return
        if self.model is not None and f not in self.model.functions:
            allowed = ", ".join(sorted(self.model.functions))
            raise self.fail(line, f"unknown f {f!r}; the {self.model.name} model allows {allowed}")
        if kind == "invoke":
            self._invoke(rec, process, f, t, line)
        else:
            self._complete(rec, kind, process, f, t, line)

    def _invoke(self, rec: Mapping[str, Any], process: Any, f: str, t: Any, line: int) -> None:
        if process in self.open:
            raise self.fail(
                line,
                f"process {process} invoked again before its op from line "
                f"{self.open[process].line} completed; a process runs one op at a time",
            )
        op = Op(
            index=len(self.history.ops),
            process=process,
            f=f,
            key=freeze(rec.get("key")),
            value=freeze(rec.get("value")),
            output=UNKNOWN,
            type="info",
            call=t,
            ret=None,
            line=line,
        )
        if self.model is not None:
            try:
                self.model.validate(op.f, op.value, UNKNOWN, False)
            except ValueError as e:
                raise self.fail(line, str(e)) from None
        self.open[process] = op
        self.history.ops.append(op)

    def _complete(
        self, rec: Mapping[str, Any], kind: str, process: Any, f: str, t: Any, line: int
    ) -> None:
        op = self.open.pop(process, None)
        if op is None:
            raise self.fail(line, f"{kind} for process {process} matches no open invoke")
        if f != op.f:
            raise self.fail(
                line, f"{kind} f {f!r} does not match the invoke's f {op.f!r} on line {op.line}"
            )
        op.type, op.end, op.end_line = kind, t, line
        if kind == "info":
            # An info op may take effect at any time after its invoke, so it
            # stays open-ended (ret None); `end` is kept for the stats.
            return
        op.ret = t
        op.output = freeze(rec.get("value")) if kind == "ok" else None
        if self.model is not None:
            try:
                self.model.validate(op.f, op.value, op.output, kind == "ok")
            except ValueError as e:
                raise self.fail(line, str(e)) from None

    def finish(self) -> History:
        if not self.history.ops and not self.history.nemesis and self.history.torn_tail:
            raise HistoryError(
                f"{self.history.source}: no complete record; its only line is torn or not "
                "JSON (expected one JSON object per line)"
            )
        if not self.history.ops and not self.history.nemesis:
            raise HistoryError(
                f"{self.history.source}: empty history; expected one JSON object per line"
            )
        return self.history


def parse_lines(
    lines: Iterable[str],
    source: str = "history",
    model: Model | None = None,
    *,
    allow_torn_tail: bool = False,
) -> History:
    """Read a history from JSON lines; blank lines are skipped.

    With ``allow_torn_tail`` (files: ``load``), a last line with no newline
    that is not valid JSON -- a writer killed mid-line -- is skipped
    (``History.torn_tail``) rather than refused. This is sound: a torn
    invoke was observed by nothing after it, and a torn completion leaves its
    op pending, which counts as info.
    """
    b = _Builder(source, model)
    fast = _fast_loads
    long_number = _LONG_NUMBER.search
    it = iter(lines)
    for n, raw in enumerate(it, 1):
        text = raw.strip()
        if not text:
            continue
        try:
            # orjson turns integers beyond 64 bits into floats, and two big
            # values must not become equal: such lines go to json.
            rec = json.loads(text) if long_number(text) else fast(text)
        except ValueError:
            # orjson refuses some JSON that json reads (integers beyond 64
            # bits, NaN); json decides, and its message names the column.
            try:
                rec = json.loads(text)
            except json.JSONDecodeError as e:
                if allow_torn_tail and not raw.endswith("\n") and next(it, None) is None:
                    b.history.torn_tail = True
                    break
                raise b.fail(n, f"malformed JSON ({e.msg} at column {e.colno})") from None
        b.add(rec, n)
    return b.finish()


def from_records(
    records: Iterable[Mapping[str, Any]], source: str = "history", model: Model | None = None
) -> History:
    """A history from records already in memory (record N is "line" N)."""
    b = _Builder(source, model)
    for n, rec in enumerate(records, 1):
        b.add(rec, n)
    return b.finish()


def load(path: str | os.PathLike[str], model: Model | None = None) -> History:
    """Read and validate a history file.

    The whole file is decoded in one go (``distlab.checkers.bulk``, about 5x
    faster); any file that path declines is read line by line, which names
    the line of the first mistake.
    """
    from distlab.checkers import bulk

    p = Path(path)
    try:
        buf = p.read_bytes()
    except OSError as e:
        raise HistoryError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        return bulk.parse(buf, str(path), model)
    except bulk.GiveUp:
        pass
    try:
        with p.open(encoding="utf-8") as f:
            return parse_lines(f, str(path), model, allow_torn_tail=True)
    except UnicodeDecodeError:
        raise HistoryError(f"{path}: not UTF-8 text; expected JSON lines") from None
    except OSError as e:
        raise HistoryError(f"{path}: cannot read ({e.strerror or e})") from None


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """History files named on a command line: files as given, directories searched
    for ``*.jsonl`` (sorted; ``events.jsonl`` files are event logs, not histories)."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.jsonl") if q.name != "events.jsonl")
            if not found:
                raise HistoryError(f"{raw}: directory has no *.jsonl history files")
            yield from found
        elif p.exists():
            yield p
        else:
            raise HistoryError(f"{raw}: no such file or directory")
