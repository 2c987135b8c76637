"""What the clients do: a weighted mix of ``f``, keys from a distribution, values.

Everything random takes the ``random.Random`` it is given, so a workload
seeded from the run's root seed generates the same ops in a replay.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# A value generator: (rng, a number unique within the client) -> the op's value.
ValueGen = Callable[[random.Random, int], Any]


@dataclass(frozen=True)
class Operation:
    """One op a client is asked to perform."""

    process: int
    f: str
    key: Any
    value: Any = None


class Keys:
    """A key distribution: ``uniform(n)`` or ``zipf(n, s)`` over keys ``k0..k{n-1}``."""

    def __init__(self, names: Sequence[Any], weights: Sequence[float] | None = None) -> None:
        if not names:
            raise ValueError("a key distribution needs at least one key")
        self.names = list(names)
        self._cum = list(itertools.accumulate(weights)) if weights is not None else None

    @classmethod
    def uniform(cls, n: int) -> Keys:
        """Every key equally likely."""
        return cls([f"k{i}" for i in range(_positive("keys", n))])

    @classmethod
    def zipf(cls, n: int, s: float = 1.0) -> Keys:
        """Key ``k{i}`` with weight ``1 / (i + 1) ** s``: a few hot keys, a long tail."""
        if not s > 0:
            raise ValueError(f"zipf exponent must be > 0, got {s!r}")
        n = _positive("keys", n)
        return cls([f"k{i}" for i in range(n)], [1 / (i + 1) ** s for i in range(n)])

    def pick(self, rng: random.Random) -> Any:
        if self._cum is None:
            return self.names[rng.randrange(len(self.names))]
        x = rng.random() * self._cum[-1]
        return self.names[min(bisect.bisect_right(self._cum, x), len(self.names) - 1)]


# Values for the built-in models' functions when a mix names no generator:
# small register values so that cas ops contend, unique append tokens.
DEFAULT_VALUES: dict[str, ValueGen] = {
    "write": lambda rng, n: rng.randrange(5),
    "cas": lambda rng, n: [rng.randrange(5), rng.randrange(5)],
    "put": lambda rng, n: f"v{rng.randrange(1000)};",
    "append": lambda rng, n: f"{n};",
}


@dataclass
class OpMix:
    """``f`` names with weights, and how to make each one's value: ``values[f]``,
    else ``DEFAULT_VALUES[f]`` for the built-in models' functions, else ``None``."""

    weights: Mapping[str, float]
    values: Mapping[str, ValueGen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.weights or any(not w >= 0 for w in self.weights.values()):
            raise ValueError(f"op mix needs weights >= 0, got {dict(self.weights)!r}")
        if sum(self.weights.values()) <= 0:
            raise ValueError("op mix needs at least one weight > 0")
        self._fs = list(self.weights)
        self._cum = list(itertools.accumulate(self.weights.values()))

    def pick(self, rng: random.Random, n: int) -> tuple[str, Any]:
        """The next ``(f, value)``; ``n`` is unique per client (for unique values)."""
        x = rng.random() * self._cum[-1]
        f = self._fs[min(bisect.bisect_right(self._cum, x), len(self._fs) - 1)]
        gen = self.values.get(f) or DEFAULT_VALUES.get(f)
        return f, gen(rng, n) if gen is not None else None


def register_mix(read: float = 2, write: float = 1, cas: float = 1, values: int = 5) -> OpMix:
    """Jepsen's register workload: small values so that cas ops contend."""
    return OpMix(
        {"read": read, "write": write, "cas": cas},
        {
            "write": lambda rng, n: rng.randrange(values),
            "cas": lambda rng, n: [rng.randrange(values), rng.randrange(values)],
        },
    )


def kv_mix(get: float = 2, put: float = 1, append: float = 1, delete: float = 0) -> OpMix:
    """The kv model's ops; appended tokens are unique so every append is traceable."""
    return OpMix({"get": get, "put": put, "append": append, "delete": delete})


def _positive(name: str, n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {n!r}")
    return n
