"""Infrastructure pieces under real thread concurrency: 1,000 racing rate-limit
checks, a breaker hammered from many threads, and a pool of real PostgreSQL
connections driven to exhaustion and back."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from support.race import race

from reference_system.infra import CircuitBreaker, Pool, PoolTimeout
from reference_system.infra.rate_limiter import RateLimiter

pytestmark = pytest.mark.concurrency


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter can, so races get their chance."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.mark.parametrize("entities", [1, 4])
def test_1000_concurrent_checks_never_exceed_the_limit(busy_switching: None, entities: int) -> None:
    # Many rounds: a race that loses tokens need not show in every round. With
    # REFSYS_BUGS=bucket-leak ten rounds missed it in 8 of 30 runs (one entity) and
    # in the CI's planted-bug step; sixty missed it in 0 of 30, ~1 s without the bug.
    for round_ in range(60):
        _one_round_of_1000_checks(entities, round_)


def _one_round_of_1000_checks(entities: int, round_: int) -> None:
    limit, window = 100, 3600.0  # refill during a round is a small fraction of a token
    limiter = RateLimiter(limit, window)
    allowed = [0] * entities
    lock = threading.Lock()
    started = time.monotonic()

    def work(i: int) -> None:
        entity = i % entities
        got = sum(limiter.allow(f"user-{entity}") for _ in range(1000 // 20))
        with lock:
            allowed[entity] += got

    race(20, work, timeout_s=60)
    elapsed = time.monotonic() - started
    bound = int(limit + elapsed * limit / window)
    for entity, got in enumerate(allowed):
        assert got <= bound, (
            f"round {round_}, entity {entity}: {got} checks allowed, limit {limit} per window"
        )
        assert got == min(limit, 1000 // entities), "a check was refused that fit"


def test_breaker_counts_add_up_under_concurrency(busy_switching: None) -> None:
    breaker = CircuitBreaker(failure_threshold=5, reset_timeout_s=0.005, half_open_max_calls=2)

    def flaky(i: int, n: int) -> None:
        if not breaker.allow():
            return
        time.sleep(0)
        if (i + n) % 3:
            breaker.record_failure()
        else:
            breaker.record_success()

    race(16, lambda i: [flaky(i, n) for n in range(200)], timeout_s=60)
    s = breaker.stats()
    assert s.calls == s.successes + s.failures  # every allowed call was reported once
    assert s.calls + s.rejections == 16 * 200
    assert s.times_opened >= 1 and s.rejections > 0


def test_pool_of_real_connections_exhausts_then_recovers(pg: object, pg_schema: str) -> None:
    size, overflow = 3, 2
    pool: Pool[psycopg.Connection] = Pool(
        lambda: psycopg.connect(pg_schema, autocommit=True), size, overflow, timeout_s=0.3
    )
    holding = threading.Barrier(10)
    outcomes: list[str] = []
    lock = threading.Lock()

    def grab_and_hold(_: int) -> None:
        try:
            with pool.connection() as conn:
                conn.execute("SELECT 1")
                outcome = "got"
                holding.wait(5)  # everyone holds or has given up before anyone returns
        except PoolTimeout:
            outcome = "timeout"
            holding.wait(5)
        with lock:
            outcomes.append(outcome)

    race(10, grab_and_hold, timeout_s=60)
    stats = pool.stats()
    assert outcomes.count("got") == size + overflow
    assert outcomes.count("timeout") == 10 - size - overflow
    assert stats.peak_checked_out == size + overflow and stats.timeouts == 5
    assert stats.checked_out == 0 and stats.idle == size and stats.overflow == 0

    # Recovery: with the pool free again every caller is served.
    served = []
    race(10, lambda i: served.append(_query(pool, i)), timeout_s=60)
    assert sorted(served) == list(range(10))
    assert pool.stats().checked_out == 0
    pool.close()


def _query(pool: Pool[psycopg.Connection], i: int) -> int:
    with pool.connection(timeout_s=30) as conn:
        row = conn.execute("SELECT %s::int", (i,)).fetchone()
        assert row is not None
        return int(row[0])
