"""A token-bucket rate limiter, one bucket per entity, safe under concurrency.

Each entity may spend ``limit`` tokens per ``window_s`` seconds, with bursts
up to ``burst`` (default: ``limit``). The invariant the suites check: over
any interval of length ``t``, an entity is allowed at most
``burst + limit * t / window_s`` checks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reference_system import bugs


@dataclass
class _Bucket:
    tokens: float
    updated: float
    lock: threading.Lock = field(default_factory=threading.Lock)


class RateLimiter:
    """``allow(entity)`` says whether one more call of ``entity`` fits in its rate."""

    def __init__(
        self,
        limit: float,
        window_s: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit <= 0 or window_s <= 0:
            raise ValueError(f"limit and window_s must be > 0, got {limit} and {window_s}")
        self.limit = float(limit)
        self.window_s = float(window_s)
        self.capacity = float(burst if burst is not None else limit)
        if self.capacity < 1:
            raise ValueError(f"burst must be >= 1, got {self.capacity}")
        self.rate = self.limit / self.window_s  # tokens per second
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._create = threading.Lock()
        # Read once at construction: the check is on the hot path.
        self._leaky = bugs.enabled("bucket-leak")

    def _bucket(self, entity: str) -> _Bucket:
        bucket = self._buckets.get(entity)
        if bucket is None:
            with self._create:
                bucket = self._buckets.get(entity)
                if bucket is None:
                    bucket = _Bucket(self.capacity, self._clock())
                    self._buckets[entity] = bucket
        return bucket

    def allow(self, entity: str = "", cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens of ``entity`` if it has them; True if allowed."""
        bucket = self._bucket(entity)
        if self._leaky:
            return self._allow_leaky(bucket, cost)
        with bucket.lock:
            now = self._clock()
            elapsed = now - bucket.updated
            if elapsed > 0:
                bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate)
                bucket.updated = now
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return True
            return False

    def _allow_leaky(self, bucket: _Bucket, cost: float) -> bool:
        # The planted "bucket-leak": the refill is computed from a snapshot
        # taken before the lock, so concurrent callers each write back a
        # refilled bucket and the others' spending is lost.
        now = self._clock()
        refilled = min(self.capacity, bucket.tokens + max(0.0, now - bucket.updated) * self.rate)
        with bucket.lock:
            bucket.tokens = refilled
            bucket.updated = max(bucket.updated, now)
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return True
            return False

    def tokens(self, entity: str = "") -> float:
        """Tokens ``entity`` has now (after refill), without spending any."""
        bucket = self._bucket(entity)
        with bucket.lock:
            elapsed = max(0.0, self._clock() - bucket.updated)
            return min(self.capacity, bucket.tokens + elapsed * self.rate)

    def entities(self) -> int:
        """How many entities have a bucket."""
        return len(self._buckets)
