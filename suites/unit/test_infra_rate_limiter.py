"""The token-bucket rate limiter: its rate bound as a stateful property, and that
it is not stricter than promised."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from reference_system.infra.rate_limiter import RateLimiter

pytestmark = pytest.mark.unit

EPS = 1e-9


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class LimiterMachine(RuleBasedStateMachine):
    """Random checks and clock moves; the limiter's bound must hold over every interval."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.limiter: RateLimiter | None = None
        self.allowed: dict[str, list[float]] = {}

    @precondition(lambda self: self.limiter is None)
    @rule(
        limit=st.integers(1, 20),
        window=st.sampled_from([0.5, 1.0, 10.0]),
        extra_burst=st.integers(0, 5),
    )
    def make(self, limit: int, window: float, extra_burst: int) -> None:
        self.limiter = RateLimiter(limit, window, burst=limit + extra_burst, clock=self.clock)

    @precondition(lambda self: self.limiter is not None)
    @rule(entity=st.sampled_from(["a", "b", "c"]), times=st.integers(1, 30))
    def check(self, entity: str, times: int) -> None:
        assert self.limiter is not None
        for _ in range(times):
            if self.limiter.allow(entity):
                self.allowed.setdefault(entity, []).append(self.clock.now)

    @precondition(lambda self: self.limiter is not None)
    @rule(dt=st.floats(0.0, 3.0, allow_nan=False))
    def advance(self, dt: float) -> None:
        self.clock.now += dt

    @invariant()
    def never_more_than_burst_plus_rate(self) -> None:
        if self.limiter is None:
            return
        cap, rate = self.limiter.capacity, self.limiter.rate
        for times in self.allowed.values():
            # Over [times[i], times[j]]: at most burst + rate * length.
            for i in range(len(times)):
                for j in range(i, len(times)):
                    count = j - i + 1
                    assert count <= cap + rate * (times[j] - times[i]) + EPS, (
                        f"{count} allowed in {times[j] - times[i]:.3f} s; bound {cap} + {rate}/s"
                    )

    @invariant()
    def tokens_stay_in_range(self) -> None:
        if self.limiter is None:
            return
        for entity in self.allowed:
            assert -EPS <= self.limiter.tokens(entity) <= self.limiter.capacity + EPS


TestLimiterBound = LimiterMachine.TestCase
TestLimiterBound.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


@given(limit=st.integers(1, 50), window=st.floats(0.1, 100), burst_extra=st.integers(0, 10))
@settings(max_examples=50, deadline=None)
def test_full_burst_after_a_quiet_window(limit: int, window: float, burst_extra: int) -> None:
    clock = FakeClock()
    limiter = RateLimiter(limit, window, burst=limit + burst_extra, clock=clock)
    burst = limit + burst_extra
    assert sum(limiter.allow("x") for _ in range(burst * 2)) == burst
    clock.now += window * (burst / limit) + 1e-6  # long enough to refill completely
    assert sum(limiter.allow("x") for _ in range(burst * 2)) == burst


def test_entities_have_separate_buckets() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, 60, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")
    assert limiter.entities() == 2


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        RateLimiter(0, 1)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(1, 1, burst=0.5)
