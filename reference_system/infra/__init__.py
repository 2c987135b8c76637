"""Infrastructure pieces of the reference system: a per-entity token-bucket rate
limiter, a circuit breaker, and a bounded connection pool with statistics."""

from __future__ import annotations

from reference_system.infra.breaker import BreakerStats, CircuitBreaker, CircuitOpenError, State
from reference_system.infra.pool import Pool, PoolStats, PoolTimeout, psycopg_pool_stats
from reference_system.infra.rate_limiter import RateLimiter

__all__ = [
    "BreakerStats",
    "CircuitBreaker",
    "CircuitOpenError",
    "Pool",
    "PoolStats",
    "PoolTimeout",
    "RateLimiter",
    "State",
    "psycopg_pool_stats",
]
