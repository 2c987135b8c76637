"""``summary.json``: the whole run as JSON, ``RunResult.to_dict()``'s shape.

Written compact (one line): with 2,000 tests, pretty-printing costs more
than the rest of the reports together (Python's json indents without its C
encoder). Read it with ``jq .`` or ``read_summary``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from distlab.report.files import atomic_write
from distlab.results import RunResult

_FIELDS: dict[type, tuple[str, ...]] = {}


def summary_dict(run: RunResult) -> dict[str, Any]:
    """The same value as ``run.to_dict()``, built about 4x faster.

    ``dataclasses.asdict`` deep-copies every value; the results model holds
    only plain values, lists, dicts and dataclasses, so a walk suffices.
    """
    data: dict[str, Any] = _plain(run)
    data["duration_s"] = run.duration_s
    for layer_data, layer in zip(data["layers"], run.layers, strict=True):
        layer_data["counts"] = layer.counts()
    return data


def summary_bytes(run: RunResult) -> bytes:
    """The summary as compact UTF-8 JSON; non-finite numbers become null."""
    data = summary_dict(run)
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        # JSON has no NaN or Infinity; strict parsers (jq, browsers) reject them.
        text = json.dumps(_finite(data), separators=(",", ":"), ensure_ascii=False)
    # A lone surrogate (undecodable bytes in captured output) cannot be UTF-8;
    # as a \udcXX escape it is still valid JSON and reads back the same.
    return (text + "\n").encode("utf-8", errors="backslashreplace")


def write_summary(run: RunResult, path: str | Path) -> None:
    """Write ``summary.json`` atomically (temp file + rename)."""
    atomic_write(path, summary_bytes(run), what="summary")


def read_summary(path: str | Path) -> RunResult:
    """Read a ``summary.json`` back into a RunResult."""
    return RunResult.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _plain(obj: Any) -> Any:
    cls = type(obj)
    if obj is None or cls in (str, int, float, bool):
        return obj
    if cls in (list, tuple):
        return [_plain(v) for v in obj]
    if cls is dict:
        return {k: _plain(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj):
        names = _FIELDS.get(cls)
        if names is None:
            names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(obj))
        return {name: _plain(getattr(obj, name)) for name in names}
    return obj


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
