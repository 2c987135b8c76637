"""Properties of the infrastructure pieces under input hypothesis draws:

- a pool whose users raise keeps its size and never hands out a broken item again;
- retry backoff grows (doubling) up to its cap and holds there -- the pure rule
  and the processor's own retry loop;
- a half-open breaker admits at most its limit of trial calls, even when many
  threads ask at once;
- a rate limiter never allows more than ``burst + rate * t`` over *any* window of
  length ``t``, not just since the start.
"""

from __future__ import annotations

import itertools
import threading

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_system.infra import backoff
from reference_system.infra.breaker import CircuitBreaker, State
from reference_system.infra.pool import Pool
from reference_system.infra.rate_limiter import RateLimiter
from reference_system.processor import worker

pytestmark = pytest.mark.unit


class Item:
    ids = itertools.count()

    def __init__(self) -> None:
        self.id = next(self.ids)
        self.closed = False

    def close(self) -> None:
        assert not self.closed, f"item {self.id} closed twice"
        self.closed = True


class UserError(Exception):
    pass


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(1, 4),
    overflow=st.integers(0, 2),
    users=st.lists(st.tuples(st.integers(1, 3), st.booleans()), min_size=1, max_size=40),
)
def test_a_pool_whose_users_raise_keeps_its_size_and_never_reuses_a_broken_item(
    size, overflow, users
):
    made: list[Item] = []

    def factory() -> Item:
        made.append(Item())
        return made[-1]

    pool: Pool[Item] = Pool(factory, size, overflow, timeout_s=0)
    broken: set[int] = set()
    for held, raises in users:
        # ``held`` users at once (within the pool's limit); the last one raises.
        borrowed = [pool.acquire() for _ in range(min(held, size + overflow))]
        for item in borrowed:
            assert item.id not in broken and not item.closed, f"reused broken item {item.id}"
        for item in borrowed[:-1]:
            pool.release(item)
        last = borrowed[-1]
        pool.release(last)  # give it back, then borrow one the way users do
        try:
            with pool.item() as item:
                assert item.id not in broken and not item.closed
                if raises:
                    broken.add(item.id)
                    raise UserError("the user's work failed")
        except UserError:
            pass
        stats = pool.stats()
        assert stats.checked_out == 0
        assert stats.idle <= size, stats  # overflow items never stay
        assert stats.created - stats.closed == stats.idle, stats
        assert all(made[i].closed for i in range(len(made)) if made[i].id in broken)
    pool.close()
    assert all(item.closed for item in made)


@given(base=st.floats(0.001, 5.0), cap=st.floats(0.001, 120.0), n=st.integers(1, 80))
def test_backoff_doubles_up_to_its_cap_and_stays_there(base, cap, n):
    waits = list(itertools.islice(backoff.delays(base, cap), n))
    assert all(0 < w <= cap for w in waits)
    assert waits[0] == min(base, cap)
    for a, b in itertools.pairwise(waits):
        assert b >= a  # never shrinks
        assert b == pytest.approx(min(2 * a, cap))  # doubles until the cap
    reach = next((k for k, w in enumerate(waits) if w == cap), None)
    if reach is not None:
        assert all(w == cap for w in waits[reach:])


@settings(max_examples=50, deadline=None)
@given(failures=st.integers(0, 12), cap=st.floats(0.01, 5.0))
def test_the_processors_retry_loop_waits_by_the_backoff(failures, cap):
    slept: list[float] = []
    # The pool is made closed (open=False): no database is contacted.
    proc = worker.Processor(worker.Options(dsn="postgresql://unused", reconnect_cap_s=cap))
    proc._log = lambda event, **fields: None
    calls = itertools.count()

    def step() -> str:
        if next(calls) < failures:
            raise psycopg.OperationalError("the database is away")
        return "done"

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(worker.time, "sleep", slept.append)
        assert proc._retry(step) == "done"
    assert slept == list(itertools.islice(backoff.delays(worker.RETRY_BASE_S, cap), failures))
    assert proc.tally.db_errors == failures


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=100, deadline=None)
@given(limit=st.integers(1, 4), threads=st.integers(1, 12), threshold=st.integers(1, 3))
def test_a_half_open_breaker_admits_at_most_its_limit_at_once(limit, threads, threshold):
    clock = Clock()
    breaker = CircuitBreaker(threshold, reset_timeout_s=1.0, half_open_max_calls=limit, clock=clock)
    for _ in range(threshold):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is State.OPEN
    clock.now = 1.0  # the reset timeout passed: half-open
    admitted: list[bool] = []
    start = threading.Barrier(threads)

    def ask() -> None:
        start.wait()
        admitted.append(breaker.allow())

    workers = [threading.Thread(target=ask) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert sum(admitted) == min(limit, threads)
    assert breaker.state is State.HALF_OPEN


@settings(max_examples=150, deadline=None)
@given(
    limit=st.integers(1, 20),
    window=st.sampled_from([0.5, 1.0, 2.0]),
    extra=st.integers(0, 5),
    steps=st.lists(
        st.tuples(st.floats(0.0, 1.0, allow_nan=False), st.integers(1, 15)),
        min_size=1,
        max_size=30,
    ),
)
def test_a_limiter_never_exceeds_its_rate_over_any_window(limit, window, extra, steps):
    clock = Clock()
    limiter = RateLimiter(limit, window, burst=limit + extra, clock=clock)
    allowed: list[float] = []
    for dt, tries in steps:
        clock.now += dt
        allowed += [clock.now for _ in range(tries) if limiter.allow("e")]
    rate = limit / window
    for i, j in itertools.combinations(range(len(allowed)), 2):
        span = allowed[j] - allowed[i]
        count = j - i + 1  # allowed at times within [allowed[i], allowed[j]]
        assert count <= limiter.capacity + rate * span + 1e-9, (
            f"{count} allowed in {span:.3f} s; at most {limiter.capacity} + {rate:g}/s"
        )
