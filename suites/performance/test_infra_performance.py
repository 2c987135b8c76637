"""What one rate-limit check, one circuit-breaker check and one pool checkout
cost, in process: p50/p95/p99 of the per-call time over many small batches,
and the median as a ratio to a bare Python call timed the same way in the
same test (a figure a slower machine moves much less).

The seeds' targets are <= 20 us a rate-limit check and <= 5 us a breaker
check; the gates in config.toml hold them. The long form is
``bench/infra_checks.py``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest

from reference_system.infra import CircuitBreaker, Pool, RateLimiter

pytestmark = pytest.mark.performance

BATCHES = 300
PER_BATCH = 200


def per_call_us(call: Callable[[], object]) -> list[float]:
    """Microseconds per call of each batch, sorted."""
    out = []
    for _ in range(BATCHES):
        t0 = time.perf_counter()
        for _ in range(PER_BATCH):
            call()
        out.append((time.perf_counter() - t0) / PER_BATCH * 1e6)
    return sorted(out)


def quantile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def record(metric, name: str, call: Callable[[], object]) -> None:  # type: ignore[no-untyped-def]
    def bare() -> None:
        return None

    per_call_us(call)  # warm up
    # Interleaved, so a slow patch of the machine hits both sides.
    ours, base = [], []
    for _ in range(3):
        ours += per_call_us(call)
        base += per_call_us(bare)
    ours.sort()
    base.sort()
    for q in (50, 95, 99):
        metric(f"{name}_p{q}_us", quantile(ours, q / 100), "us")
    metric(f"{name}_ratio", statistics.median(ours) / statistics.median(base), "")
    print(f"{name}: p50 {quantile(ours, 0.5):.2f} us, p99 {quantile(ours, 0.99):.2f} us")


def test_rate_limiter_check_cost(metric):
    limiter = RateLimiter(limit=1e12, window_s=1.0)  # never denies: the allowed path
    entities = [f"user-{i}" for i in range(1000)]
    it = iter(range(10**12))
    record(metric, "rate_limit_check", lambda: limiter.allow(entities[next(it) % 1000]))
    assert limiter.entities() == 1000


def test_circuit_breaker_check_cost(metric):
    breaker = CircuitBreaker(failure_threshold=5, reset_timeout_s=30)
    record(metric, "breaker_check", breaker.allow)
    assert breaker.allow()


def test_pool_checkout_cost(metric):
    pool = Pool(object, size=4, close=lambda _: None)

    def borrow() -> None:
        with pool.item():
            pass

    record(metric, "pool_checkout", borrow)
    assert pool.stats().checked_out == 0
