"""Field metadata for the config schema: what a key means and what it allows.

The schema is plain dataclasses; each field carries a ``spec(...)`` with its
help text and limits, and the loader validates against it. One place says
what a key is, so the error message, ``config.toml`` comments and docs agree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Spec:
    """Limits and help for one config key."""

    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    pattern_help: str | None = None


def spec(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[str, ...] | None = None,
    factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field with its ``Spec`` attached as metadata."""
    meta = {"spec": Spec(help=help, min=min, max=max, choices=choices)}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def field_spec(f: dataclasses.Field[Any]) -> Spec:
    return f.metadata.get("spec") or Spec(help="")
