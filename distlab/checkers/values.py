"""JSON values as hashable Python values, and back.

Model states go into the search's memo table, so every value the models see
must be hashable: lists become tuples, objects become sorted item tuples.
JSON ``true`` must not equal ``1`` (Python's ``True == 1``), so booleans are
wrapped.
"""

from __future__ import annotations

from typing import Any


class JsonBool:
    """A JSON boolean that compares unequal to the numbers 0 and 1."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonBool) and other.value is self.value

    def __hash__(self) -> int:
        return hash(("JsonBool", self.value))

    def __repr__(self) -> str:
        return "true" if self.value else "false"


class FrozenObject(tuple):
    """A JSON object as a sorted tuple of items (tells objects from arrays)."""

    __slots__ = ()


TRUE, FALSE = JsonBool(True), JsonBool(False)


_SCALARS = (int, str, float, type(None))


def freeze(value: Any) -> Any:
    """A hashable copy of a JSON value."""
    if type(value) in _SCALARS:
        return value
    if value is True:
        return TRUE
    if value is False:
        return FALSE
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return FrozenObject(sorted((str(k), freeze(v)) for k, v in value.items()))
    return value


def thaw(value: Any) -> Any:
    """The JSON value a frozen value came from."""
    if isinstance(value, JsonBool):
        return value.value
    if isinstance(value, FrozenObject):
        return {k: thaw(v) for k, v in value}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def show(value: Any) -> str:
    """A short JSON rendering for messages and counterexamples."""
    import json

    text = json.dumps(thaw(value), separators=(",", ":"), default=str)
    return text if len(text) <= 60 else text[:57] + "..."
