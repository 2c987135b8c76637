"""In-process cost of one rate-limit check and one circuit-breaker check
(targets: <= 20 us and <= 5 us).

    .venv/bin/python bench/infra_checks.py [--no-record]
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._results import record
from reference_system.infra import CircuitBreaker, Pool, RateLimiter


def per_call_us(stmt, number: int = 200_000, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    """Best of ``repeat`` runs, in microseconds per call (the least disturbed run)."""
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-record", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()

    limiter = RateLimiter(limit=1e12, window_s=1.0)  # never denies: measure the allowed path
    entities = [f"user-{i}" for i in range(1000)]
    it = iter(range(10**12))
    limiter_us = per_call_us(lambda: limiter.allow(entities[next(it) % 1000]))

    breaker = CircuitBreaker(failure_threshold=5, reset_timeout_s=30)
    breaker_us = per_call_us(breaker.allow)
    breaker_call_us = per_call_us(lambda: breaker.call(int))

    pool = Pool(object, size=4, close=lambda _: None)

    def borrow() -> None:
        with pool.item():
            pass

    pool_us = per_call_us(borrow)

    figures = [
        ("infra_rate_limit_check", limiter_us),
        ("infra_breaker_check", breaker_us),
        ("infra_breaker_call", breaker_call_us),
        ("infra_pool_borrow_return", pool_us),
    ]
    for name, us in figures:
        if args.no_record:
            print(f"{name}: {us:.2f} us")
        else:
            record(name, us, "us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
