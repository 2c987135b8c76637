"""``summary.json``: the whole run as JSON (``RunResult.to_dict()``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from distlab.report.files import atomic_write
from distlab.results import RunResult


def summary_bytes(run: RunResult) -> bytes:
    """``RunResult.to_dict()`` as indented UTF-8 JSON; non-finite numbers become null."""
    return (json.dumps(_finite(run.to_dict()), indent=2, ensure_ascii=False) + "\n").encode()


def write_summary(run: RunResult, path: str | Path) -> None:
    """Write ``summary.json`` atomically (temp file + rename)."""
    atomic_write(path, summary_bytes(run), what="summary")


def read_summary(path: str | Path) -> RunResult:
    """Read a ``summary.json`` back into a RunResult."""
    return RunResult.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _finite(value: Any) -> Any:
    # JSON has no NaN or Infinity; strict parsers (jq, browsers) reject them.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
