"""The PostgreSQL work queue: schema, claims protocol and management."""

from __future__ import annotations

from reference_system.queue.claims import Claimed, Outcome, claim, reclaim_orphans, release, settle
from reference_system.queue.manage import (
    Health,
    cleanup_completed,
    enqueue,
    enqueue_bulk,
    health,
    status_counts,
)
from reference_system.queue.schema import LATEST, migrate, schema_version

__all__ = [
    "LATEST",
    "Claimed",
    "Health",
    "Outcome",
    "claim",
    "cleanup_completed",
    "enqueue",
    "enqueue_bulk",
    "health",
    "migrate",
    "reclaim_orphans",
    "release",
    "schema_version",
    "settle",
    "status_counts",
]
