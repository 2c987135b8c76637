"""One root seed per run drives every random choice.

Sub-seeds are derived by name (``derive(root, "nemesis")``) so that adding a
new consumer of randomness does not shift the streams of the existing ones,
and a replay with ``--seed`` reproduces each of them exactly.
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets

from distlab.env import SEED_ENV

MAX_SEED = 2**63 - 1


def new_root_seed() -> int:
    """A fresh root seed: from ``DISTLAB_SEED`` if set, else random."""
    env = os.environ.get(SEED_ENV)
    if env is not None and env.strip():
        return parse_seed(env)
    return secrets.randbelow(2**31)


def parse_seed(text: str) -> int:
    """Parse a seed given on the command line or in the environment."""
    try:
        value = int(text.strip(), 0)
    except ValueError:
        raise ValueError(
            f"seed must be a whole number from 0 to {MAX_SEED}, got {text!r}"
        ) from None
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"seed must be a whole number from 0 to {MAX_SEED}, got {text!r}")
    return value


def derive(root: int, name: str) -> int:
    """A stable sub-seed for the consumer called ``name``."""
    digest = hashlib.blake2b(f"{root}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & MAX_SEED


def rng(root: int, name: str) -> random.Random:
    """A ``random.Random`` seeded for the consumer called ``name``."""
    return random.Random(derive(root, name))
