"""A bounded pool of connections (or any resource) with overflow and statistics.

``size`` items are kept for reuse; when all are out, up to ``max_overflow``
more are made and closed again on release. A caller that finds the pool
exhausted waits up to ``timeout_s`` and then gets ``PoolTimeout``. The
invariant: never more than ``size + max_overflow`` items are out at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class PoolTimeout(Exception):
    """No item became free in time."""


@dataclass(frozen=True)
class PoolStats:
    """Where a pool stands (a snapshot)."""

    size: int
    max_overflow: int
    checked_out: int
    idle: int
    overflow: int  # items beyond ``size`` that exist now
    created: int
    closed: int
    waits: int  # acquires that had to wait
    timeouts: int
    peak_checked_out: int


def psycopg_pool_stats(pool: Any) -> PoolStats:
    """The same figures for a ``psycopg_pool.ConnectionPool``."""
    s = pool.get_stats()
    size = int(s.get("pool_size", 0))
    idle = int(s.get("pool_available", 0))
    return PoolStats(
        size=int(s.get("pool_max", size)),
        max_overflow=0,
        checked_out=size - idle,
        idle=idle,
        overflow=0,
        created=int(s.get("connections_num", 0)),
        closed=int(s.get("connections_lost", 0)),
        waits=int(s.get("requests_waiting", 0)) + int(s.get("requests_queued", 0)),
        timeouts=int(s.get("requests_errors", 0)),
        peak_checked_out=size - idle,
    )


class Pool(Generic[T]):
    """A thread-safe bounded pool; use ``with pool.item() as x:``."""

    def __init__(
        self,
        factory: Callable[[], T],
        size: int,
        max_overflow: int = 0,
        timeout_s: float = 30.0,
        close: Callable[[T], None] = lambda item: item.close(),  # type: ignore[attr-defined]
    ) -> None:
        if size < 1 or max_overflow < 0:
            raise ValueError(f"size must be >= 1 and max_overflow >= 0, got {size}, {max_overflow}")
        self.size = size
        self.max_overflow = max_overflow
        self.timeout_s = timeout_s
        self._factory = factory
        self._close = close
        self._idle: deque[T] = deque()
        self._cond = threading.Condition()
        self._existing = 0
        self._out = 0
        self._created = self._closed = self._waits = self._timeouts = self._peak = 0
        self._shut = False

    def acquire(self, timeout_s: float | None = None) -> T:
        """Take an item, making one if allowed; waits, then raises ``PoolTimeout``."""
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        waited = False
        with self._cond:
            while True:
                if self._shut:
                    raise PoolTimeout("pool is closed")
                if self._idle:
                    item = self._idle.popleft()
                    self._checked_out()
                    return item
                if self._existing < self.size + self.max_overflow:
                    self._existing += 1  # reserve the slot; make the item outside the lock
                    self._checked_out()
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    self._timeouts += 1
                    raise PoolTimeout(
                        f"no item free within {timeout_s or self.timeout_s:g} s "
                        f"({self._out} out of {self.size + self.max_overflow})"
                    )
                if not waited:
                    waited = True
                    self._waits += 1
                self._cond.wait(left)
        try:
            item = self._factory()
        except BaseException:
            with self._cond:
                self._existing -= 1
                self._out -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._created += 1
        return item

    def _checked_out(self) -> None:
        self._out += 1
        self._peak = max(self._peak, self._out)

    def release(self, item: T, broken: bool = False) -> None:
        """Give an item back; a broken one, or one beyond ``size``, is closed."""
        with self._cond:
            self._out -= 1
            keep = not broken and not self._shut and self._existing <= self.size
            if keep:
                self._idle.append(item)
            else:
                self._existing -= 1
                self._closed += 1
            self._cond.notify()
        if not keep:
            self._close(item)

    @contextmanager
    def item(self, timeout_s: float | None = None) -> Iterator[T]:
        """Borrow an item for a ``with`` block; an exception marks it broken."""
        obj = self.acquire(timeout_s)
        try:
            yield obj
        except BaseException:
            self.release(obj, broken=True)
            raise
        self.release(obj)

    connection = item  # the usual name when the items are database connections

    def stats(self) -> PoolStats:
        """A consistent snapshot of the pool's figures."""
        with self._cond:
            return PoolStats(
                size=self.size,
                max_overflow=self.max_overflow,
                checked_out=self._out,
                idle=len(self._idle),
                overflow=max(0, self._existing - self.size),
                created=self._created,
                closed=self._closed,
                waits=self._waits,
                timeouts=self._timeouts,
                peak_checked_out=self._peak,
            )

    def close(self) -> None:
        """Close idle items now; items still out are closed when released."""
        with self._cond:
            self._shut = True
            idle = list(self._idle)
            self._idle.clear()
            self._existing -= len(idle)
            self._closed += len(idle)
            self._cond.notify_all()
        for item in idle:
            self._close(item)
