"""A circuit breaker: closed, open, half-open.

- closed: calls pass; ``failure_threshold`` failures in a row open it.
- open: calls are rejected until ``reset_timeout_s`` has passed, then the
  next check moves it to half-open.
- half-open: up to ``half_open_max_calls`` trial calls pass at a time; a
  success closes the breaker, a failure opens it again (and restarts the
  timeout).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class State(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(Exception):
    """A call was rejected because the breaker is open."""


@dataclass(frozen=True)
class BreakerStats:
    """Counts since the breaker was made, and where it stands."""

    state: State
    calls: int  # checks that were allowed
    successes: int
    failures: int
    rejections: int
    consecutive_failures: int
    times_opened: int


class CircuitBreaker:
    """Guards calls to something that may be down; see the module docstring."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout_s: float = 30.0,
        half_open_max_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or half_open_max_calls < 1 or reset_timeout_s < 0:
            raise ValueError(
                "failure_threshold and half_open_max_calls must be >= 1 and reset_timeout_s >= 0"
            )
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self.half_open_max_calls = half_open_max_calls
        self._clock = clock
        self._lock = threading.Lock()
        self._state = State.CLOSED
        self._opened_at = 0.0
        self._trials = 0  # half-open calls allowed and not yet reported
        self._consecutive = 0
        self._calls = self._successes = self._failures = self._rejections = self._opened = 0

    @property
    def state(self) -> State:
        """The state now (an open breaker whose timeout passed reads half-open)."""
        with self._lock:
            self._tick()
            return self._state

    def _tick(self) -> None:
        if self._state is State.OPEN and self._clock() - self._opened_at >= self.reset_timeout_s:
            self._state = State.HALF_OPEN
            self._trials = 0

    def _open(self) -> None:
        self._state = State.OPEN
        self._opened_at = self._clock()
        self._opened += 1
        self._trials = 0

    def allow(self) -> bool:
        """May a call go ahead now? If True, report it with ``record_success/failure``."""
        with self._lock:
            self._tick()
            if self._state is State.CLOSED or (
                self._state is State.HALF_OPEN and self._trials < self.half_open_max_calls
            ):
                if self._state is State.HALF_OPEN:
                    self._trials += 1
                self._calls += 1
                return True
            self._rejections += 1
            return False

    def record_success(self) -> None:
        """The allowed call worked."""
        with self._lock:
            self._successes += 1
            self._consecutive = 0
            if self._state is State.HALF_OPEN:
                self._state = State.CLOSED
                self._trials = 0

    def record_failure(self) -> None:
        """The allowed call failed."""
        with self._lock:
            self._failures += 1
            self._consecutive += 1
            if self._state is State.HALF_OPEN or (
                self._state is State.CLOSED and self._consecutive >= self.failure_threshold
            ):
                self._open()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` through the breaker; any exception counts as a failure."""
        if not self.allow():
            raise CircuitOpenError("circuit open: call rejected")
        try:
            result = fn()
        except BaseException:
            self.record_failure()
            raise
        self.record_success()
        return result

    def stats(self) -> BreakerStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            self._tick()
            return BreakerStats(
                self._state,
                self._calls,
                self._successes,
                self._failures,
                self._rejections,
                self._consecutive,
                self._opened,
            )
