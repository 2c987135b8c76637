"""Sequential specifications the linearizability checker checks against.

A model says what one object does when ops are applied one at a time. The
checker splits a history per ``key`` (P-compositionality: a history is
linearizable iff each key's sub-history is) and gives every key its own copy
of the model's initial state.

Plug in your own model by subclassing ``Model`` and passing an instance to
``check_linearizable`` (or registering it in ``MODELS`` for ``distlab check``)::

    class Counter(Model):
        name = "counter"
        functions = frozenset({"incr", "read"})
        read_only = frozenset({"read"})

        def init(self):
            return 0

        def step(self, state, f, value, output):
            if f == "incr":
                return True, state + value
            return output == state, state          # a read must see the state

States must be hashable (they go into the search's memo table); values
arrive frozen (``distlab.checkers.values.freeze``: lists are tuples). An op
whose outcome is unknown (``info``) is stepped with ``output=UNKNOWN``; an
``info`` op of a ``read_only`` function is dropped because it constrains
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from distlab.checkers.values import show

ILLEGAL: Any = object()  # what a compiled step returns when the op cannot happen in a state


class _Unknown:
    def __repr__(self) -> str:
        return "unknown"

    def __reduce__(self) -> str:
        # Unpickles as the module's singleton, so ``output is UNKNOWN`` holds
        # in worker processes too.
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()  # the output of an op whose outcome is unknown (info)

Step = Callable[[Hashable], Hashable]


class Model:
    """A sequential object: an initial state and a step function."""

    name: str = "model"
    functions: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()

    def init(self) -> Hashable:
        """The state of every key before the first op."""
        raise NotImplementedError

    def step(self, state: Hashable, f: str, value: Any, output: Any) -> tuple[bool, Hashable]:
        """Apply one op: (whether it could have returned ``output`` here, the next state)."""
        raise NotImplementedError

    def validate(self, f: str, value: Any, output: Any, completed: bool) -> None:
        """Raise ``ValueError`` naming what is wrong if an op's values have the wrong shape."""

    def compile(self, f: str, value: Any, output: Any) -> Step:
        """A one-argument step for one op (state -> next state or ``ILLEGAL``).

        The search calls it millions of times, so built-in models override it
        with a closure that does no dispatch on ``f``.
        """
        step = self.step

        def stepped(state: Hashable) -> Hashable:
            ok, nxt = step(state, f, value, output)
            return nxt if ok else ILLEGAL

        return stepped

    def describe(self, f: str, value: Any, output: Any) -> str:
        """An op in a counterexample, e.g. ``write 5`` or ``read -> 3``."""
        if output is UNKNOWN:
            return f"{f} {show(value)} -> ?"
        if output is None:
            return f"{f} {show(value)}"
        return f"{f} {show(value)} -> {show(output)}"


class Register(Model):
    """One register per key, initially ``null``: read / write / cas ``[expected, new]``."""

    name = "register"
    functions = frozenset({"read", "write", "cas"})
    read_only = frozenset({"read"})

    def init(self) -> Hashable:
        return None

    def validate(self, f: str, value: Any, output: Any, completed: bool) -> None:
        if f == "cas" and (
            type(value) is not tuple or len(value) != 2  # a JSON array, not an object
        ):
            raise ValueError(f"cas value must be [expected, new], got {show(value)}")

    def step(self, state: Hashable, f: str, value: Any, output: Any) -> tuple[bool, Hashable]:
        if f == "write":
            return True, value
        if f == "read":
            return output is UNKNOWN or output == state, state
        expected, new = value
        return (True, new) if state == expected else (False, state)

    def compile(self, f: str, value: Any, output: Any) -> Step:
        if f == "write":
            return lambda state: value
        if f == "read":
            if output is UNKNOWN:
                return lambda state: state
            return lambda state: state if state == output else ILLEGAL
        expected, new = value
        return lambda state: new if state == expected else ILLEGAL

    def describe(self, f: str, value: Any, output: Any) -> str:
        if f == "read":
            return "read -> ?" if output is UNKNOWN else f"read -> {show(output)}"
        if f == "cas":
            return f"cas {show(value[0])} -> {show(value[1])}"
        return f"write {show(value)}"


class KV(Model):
    """One string per key; a missing key reads ``""``: get / put / append / delete.

    A ``get`` that returned ``null`` is read as ``""`` (the key was missing).
    """

    name = "kv"
    functions = frozenset({"get", "put", "append", "delete"})
    read_only = frozenset({"get"})

    def init(self) -> Hashable:
        return ""

    def validate(self, f: str, value: Any, output: Any, completed: bool) -> None:
        if f in ("put", "append") and not isinstance(value, str):
            raise ValueError(f"{f} value must be a string, got {show(value)}")
        if f == "get" and completed and output is not None and not isinstance(output, str):
            raise ValueError(f"get must return a string or null, got {show(output)}")

    def step(self, state: Hashable, f: str, value: Any, output: Any) -> tuple[bool, Hashable]:
        nxt = self.compile(f, value, output)(state)
        return (False, state) if nxt is ILLEGAL else (True, nxt)

    def compile(self, f: str, value: Any, output: Any) -> Step:
        if f == "put":
            return lambda state: value
        if f == "append":
            return lambda state: state + value
        if f == "delete":
            return lambda state: ""
        if output is UNKNOWN:
            return lambda state: state
        seen = "" if output is None else output
        return lambda state: state if state == seen else ILLEGAL

    def describe(self, f: str, value: Any, output: Any) -> str:
        if f == "get":
            return "get -> ?" if output is UNKNOWN else f"get -> {show(output or '')}"
        if f == "delete":
            return "delete"
        return f"{f} {show(value)}"


MODELS: dict[str, Model] = {"register": Register(), "kv": KV()}


def get_model(name: str) -> Model:
    """A built-in model by name; ``ValueError`` naming the choices otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}"
        ) from None
