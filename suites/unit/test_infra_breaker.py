"""The circuit breaker against a model of its state machine (hypothesis stateful)."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from reference_system.infra.breaker import CircuitBreaker, CircuitOpenError, State

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Model:
    """The breaker as a table of transitions, written apart from the real one."""

    def __init__(self, threshold: int, timeout: float, trials: int) -> None:
        self.threshold, self.timeout, self.max_trials = threshold, timeout, trials
        self.state, self.opened_at, self.in_trial, self.run = "closed", 0.0, 0, 0
        self.rejections = 0

    def tick(self, now: float) -> None:
        if self.state == "open" and now - self.opened_at >= self.timeout:
            self.state, self.in_trial = "half_open", 0

    def allow(self, now: float) -> bool:
        self.tick(now)
        if self.state == "closed":
            return True
        if self.state == "half_open" and self.in_trial < self.max_trials:
            self.in_trial += 1
            return True
        self.rejections += 1
        return False

    def success(self) -> None:
        self.run = 0
        if self.state == "half_open":
            self.state = "closed"

    def failure(self, now: float) -> None:
        self.run += 1
        if self.state == "half_open" or (self.state == "closed" and self.run >= self.threshold):
            self.state, self.opened_at, self.in_trial = "open", now, 0


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.breaker: CircuitBreaker | None = None
        self.model: Model | None = None
        self.outstanding = 0  # allowed calls not yet reported

    @precondition(lambda self: self.breaker is None)
    @rule(
        threshold=st.integers(1, 4),
        timeout=st.sampled_from([0.0, 1.0, 5.0]),
        trials=st.integers(1, 3),
    )
    def make(self, threshold: int, timeout: float, trials: int) -> None:
        self.breaker = CircuitBreaker(threshold, timeout, trials, clock=self.clock)
        self.model = Model(threshold, timeout, trials)

    @precondition(lambda self: self.breaker is not None)
    @rule()
    def allow(self) -> None:
        assert self.breaker and self.model
        got = self.breaker.allow()
        assert got == self.model.allow(self.clock.now)
        self.outstanding += got

    @precondition(lambda self: self.breaker is not None and self.outstanding > 0)
    @rule(ok=st.booleans())
    def report(self, ok: bool) -> None:
        assert self.breaker and self.model
        self.outstanding -= 1
        if ok:
            self.breaker.record_success()
            self.model.success()
        else:
            self.breaker.record_failure()
            self.model.failure(self.clock.now)

    @precondition(lambda self: self.breaker is not None)
    @rule(dt=st.sampled_from([0.1, 0.5, 1.0, 5.0]))
    def advance(self, dt: float) -> None:
        self.clock.now += dt

    @invariant()
    def same_state_as_the_model(self) -> None:
        if self.breaker and self.model:
            self.model.tick(self.clock.now)
            stats = self.breaker.stats()
            assert stats.state.value == self.model.state
            assert stats.rejections == self.model.rejections
            assert stats.consecutive_failures == self.model.run


TestBreakerModel = BreakerMachine.TestCase
TestBreakerModel.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)


def test_call_opens_after_threshold_and_recovers_after_timeout() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout_s=10, clock=clock)

    def boom() -> None:
        raise RuntimeError("down")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            breaker.call(boom)
    assert breaker.state is State.OPEN
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: 1)
    clock.now += 10
    assert breaker.state is State.HALF_OPEN
    assert breaker.call(lambda: 7) == 7
    stats = breaker.stats()
    assert stats.state is State.CLOSED
    assert (stats.calls, stats.successes, stats.failures, stats.rejections) == (3, 1, 2, 1)
    assert stats.times_opened == 1


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)
