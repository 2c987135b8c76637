"""The bounded pool: never more than size + overflow out, stats that add up
(hypothesis stateful), and an exhausted pool that times out and recovers."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from reference_system.infra.pool import Pool, PoolTimeout

pytestmark = pytest.mark.unit


class Resource:
    ids = itertools.count()

    def __init__(self) -> None:
        self.id = next(self.ids)
        self.closed = False

    def close(self) -> None:
        assert not self.closed, "closed twice"
        self.closed = True


class PoolMachine(RuleBasedStateMachine):
    held = Bundle("held")

    def __init__(self) -> None:
        super().__init__()
        self.pool: Pool[Resource] | None = None
        self.out: set[int] = set()
        self.made: list[Resource] = []

    def _make(self) -> Resource:
        r = Resource()
        self.made.append(r)
        return r

    @precondition(lambda self: self.pool is None)
    @rule(size=st.integers(1, 4), overflow=st.integers(0, 3))
    def make(self, size: int, overflow: int) -> None:
        self.pool = Pool(self._make, size, overflow, timeout_s=0)

    @precondition(lambda self: self.pool is not None)
    @rule(target=held)
    def acquire(self) -> Resource | None:
        assert self.pool is not None
        limit = self.pool.size + self.pool.max_overflow
        try:
            r = self.pool.acquire(timeout_s=0)
        except PoolTimeout:
            assert len(self.out) == limit, "refused while there was room"
            return None
        assert len(self.out) < limit, "handed out beyond size + overflow"
        assert not r.closed and r.id not in self.out
        self.out.add(r.id)
        return r

    @precondition(lambda self: self.pool is not None)
    @rule(r=consumes(held), broken=st.booleans())
    def release(self, r: Resource | None, broken: bool) -> None:
        assert self.pool is not None
        if r is None:
            return
        self.out.discard(r.id)
        self.pool.release(r, broken=broken)
        if broken:
            assert r.closed

    @invariant()
    def figures_add_up(self) -> None:
        if self.pool is None:
            return
        s = self.pool.stats()
        assert s.checked_out == len(self.out) <= s.size + s.max_overflow
        assert s.idle <= s.size
        assert s.created - s.closed == s.idle + s.checked_out
        assert s.created == len(self.made)
        assert sum(not r.closed for r in self.made) == s.idle + s.checked_out
        assert s.peak_checked_out <= s.size + s.max_overflow


TestPoolBound = PoolMachine.TestCase
TestPoolBound.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)


def test_overflow_items_are_closed_on_release_and_pool_closes_idle() -> None:
    pool = Pool(Resource, size=1, max_overflow=1, timeout_s=0)
    a, b = pool.acquire(), pool.acquire()
    assert pool.stats().overflow == 1
    pool.release(b)
    assert b.closed and pool.stats().overflow == 0
    pool.release(a)
    assert not a.closed and pool.stats().idle == 1
    pool.close()
    assert a.closed
    with pytest.raises(PoolTimeout, match="closed"):
        pool.acquire()


def test_a_failing_factory_gives_its_slot_back() -> None:
    calls = iter([RuntimeError("db down"), None])

    def factory() -> Resource:
        err = next(calls)
        if err:
            raise err
        return Resource()

    pool = Pool(factory, size=1, timeout_s=0)
    with pytest.raises(RuntimeError):
        pool.acquire()
    assert pool.stats().checked_out == 0
    assert isinstance(pool.acquire(), Resource)
