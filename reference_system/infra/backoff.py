"""Capped exponential backoff: how long to wait before each retry.

The n-th wait (from 0) is ``base_s * 2**n``, never more than ``cap_s``: it
grows while the trouble lasts and then holds at the cap, so a peer that is
away for long is polled at a steady, bounded rate. The first wait is capped
too (a cap below the base means "wait the cap every time").
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator


def backoff_s(attempt: int, base_s: float, cap_s: float) -> float:
    """The wait before retry number ``attempt`` (1 for the first retry)."""
    if attempt < 1 or base_s <= 0 or cap_s <= 0:
        raise ValueError(
            f"backoff needs attempt >= 1 and base_s, cap_s > 0, got {attempt}, {base_s}, {cap_s}"
        )
    # 2**k overflows to inf as a float long after it passed any cap; stop early.
    return min(cap_s, base_s * 2.0 ** min(attempt - 1, 1023))


def delays(base_s: float, cap_s: float) -> Iterator[float]:
    """The waits before retries 1, 2, 3, ... (endless)."""
    return (backoff_s(n, base_s, cap_s) for n in itertools.count(1))
